//! A tonic codec for messages known only at run time: requests are sent as
//! given (written already, or a `DynamicMessage`), responses read into JSON
//! against the method's output descriptor, straight from the wire where
//! its plan allows.

use std::sync::Arc;

use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde_json::Value;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::plan::Plan;
use super::{json, wire};

/// Each call in flight holds an encode and a decode buffer of this size to
/// start with (tonic's default is 8 KiB); they grow for larger messages.
/// Step messages are mostly small, and 10,000 runs in flight hold
/// thousands of them.
const INITIAL_BUFFER: usize = 1024;
/// tonic's default: how much a stream encodes before it yields.
const YIELD_THRESHOLD: usize = 32 * 1024;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(INITIAL_BUFFER, YIELD_THRESHOLD)
}

/// A request as the codec takes it.
#[derive(Debug)]
pub enum Outgoing {
    /// Already in protobuf's wire format (`encode.rs`).
    Encoded(Vec<u8>),
    Message(DynamicMessage),
}

/// Sends any request; decodes the one type it was built for.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
    plan: Option<Arc<Plan>>,
}

impl DynamicCodec {
    /// `plan`: how to read answers straight into JSON, if they can be.
    pub fn new(output: MessageDescriptor, plan: Option<Arc<Plan>>) -> Self {
        Self { output, plan }
    }
}

/// An answer as JSON, or why the answer, received and decoded, cannot be
/// shown as JSON (the call was applied all the same).
pub type Answer = Result<Value, String>;

impl Codec for DynamicCodec {
    type Encode = Outgoing;
    type Decode = Answer;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder {
            output: self.output.clone(),
            plan: self.plan.clone(),
        }
    }
}

#[derive(Debug)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = Outgoing;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        match item {
            Outgoing::Encoded(bytes) => {
                dst.put_slice(&bytes);
                Ok(())
            }
            Outgoing::Message(message) => message
                .encode(dst)
                .map_err(|e| Status::internal(format!("cannot encode the request: {e}"))),
        }
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}

#[derive(Debug)]
pub struct DynamicDecoder {
    output: MessageDescriptor,
    plan: Option<Arc<Plan>>,
}

impl Decoder for DynamicDecoder {
    type Item = Answer;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let refused = |e: &dyn std::fmt::Display| {
            let name = self.output.full_name();
            Status::internal(format!("cannot decode the response as `{name}`: {e}"))
        };
        if let Some(plan) = &self.plan {
            // The message is whole in one buffer: taking it copies nothing.
            let bytes = src.copy_to_bytes(src.remaining());
            return wire::decode(plan, &bytes)
                .map(|json| Some(Ok(json)))
                .map_err(|e| refused(&e));
        }
        let message = DynamicMessage::decode(self.output.clone(), src).map_err(|e| refused(&e))?;
        Ok(Some(json::to_json(&message)))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}
