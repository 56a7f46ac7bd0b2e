//! Descriptors asked of the server by gRPC reflection: `grpc.reflection.v1`
//! first, `v1alpha` for servers that only speak that (Python's grpcio).
//! Every listed service's file, then every file it imports, by name.

use std::collections::{BTreeMap, VecDeque};

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorProto;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::status::{classify, not_grpc};
use crate::transport::{CallError, FailureClass};

/// Requests queued on the reflection stream ahead of the server: it answers
/// one at a time, so a few are plenty.
const STREAM_BUFFER: usize = 4;

/// The server's services and every file they need, as a descriptor pool.
///
/// Nothing here changes the server, so no failure is of unknown outcome:
/// a server that cannot be reached is retryable, one without reflection (or
/// with incomplete reflection) is permanent.
pub async fn load(channel: Channel) -> Result<DescriptorPool, CallError> {
    let files = match v1::fetch(channel.clone()).await {
        // A plain HTTP server's 404 maps to UNIMPLEMENTED too: say that instead.
        Err(status) if status.code() == Code::Unimplemented && !not_grpc(&status) => {
            v1alpha::fetch(channel)
                .await
                .map_err(|status| match status.code() {
                    Code::Unimplemented => CallError::permanent(
                        "the server offers no reflection (neither grpc.reflection.v1 nor v1alpha); \
                     give the service `proto` files",
                    ),
                    _ => failed(&status),
                })?
        }
        other => other.map_err(|status| failed(&status))?,
    };
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files.into_values())
        .map_err(|e| CallError::permanent(format!("the server's reflection is unusable: {e}")))?;
    Ok(pool)
}

fn failed(status: &Status) -> CallError {
    let mut error = classify(status);
    if error.class == FailureClass::Unknown {
        error.class = FailureClass::Retryable;
    }
    error.message = format!("loading descriptors by reflection: {}", error.message);
    error
}

/// A reflection request, independent of the protocol version.
enum Ask {
    ListServices,
    FileContainingSymbol(String),
    FileByFilename(String),
}

/// A reflection answer, independent of the protocol version.
enum Answer {
    Services(Vec<String>),
    Files(Vec<Vec<u8>>),
    Error { code: i32, message: String },
}

/// One reflection stream: a question, then its answer.
trait Session {
    fn ask(&mut self, ask: Ask) -> impl Future<Output = Result<Answer, Status>> + Send;
}

/// Walk the server's files: each service's own, then imports until none is
/// missing. Well-known types the server does not serve come from protox.
async fn walk(session: &mut impl Session) -> Result<BTreeMap<String, FileDescriptorProto>, Status> {
    let services = match session.ask(Ask::ListServices).await? {
        Answer::Services(names) => names,
        Answer::Error { code, message } => return Err(Status::new(Code::from(code), message)),
        Answer::Files(_) => return Err(Status::internal("reflection answered out of order")),
    };
    let mut files = BTreeMap::new();
    let mut missing = VecDeque::new();
    for service in services
        .iter()
        .filter(|s| !s.starts_with("grpc.reflection."))
    {
        match session
            .ask(Ask::FileContainingSymbol(service.clone()))
            .await?
        {
            Answer::Files(protos) => add(&mut files, &mut missing, protos)?,
            Answer::Error { code, message } => {
                return Err(Status::new(
                    Code::from(code),
                    format!("no descriptor for service `{service}`: {message}"),
                ));
            }
            Answer::Services(_) => {
                return Err(Status::internal("reflection answered out of order"));
            }
        }
    }
    while let Some(name) = missing.pop_front() {
        if files.contains_key(&name) {
            continue;
        }
        // Well-known types are the same everywhere, and not every server
        // serves them (tonic's ends the stream when asked for a file it
        // lacks), so they are never asked for.
        if let Some(file) = well_known(&name) {
            missing.extend(file.dependency.iter().cloned());
            files.insert(name, file);
            continue;
        }
        match session.ask(Ask::FileByFilename(name.clone())).await {
            Ok(Answer::Files(protos)) => add(&mut files, &mut missing, protos)?,
            Ok(Answer::Error { code, message }) => {
                return Err(not_served(&name, Code::from(code), &message));
            }
            Ok(Answer::Services(_)) => {
                return Err(Status::internal("reflection answered out of order"));
            }
            Err(status) => return Err(not_served(&name, status.code(), status.message())),
        }
    }
    Ok(files)
}

fn not_served(name: &str, code: Code, message: &str) -> Status {
    Status::new(
        code,
        format!("the server does not serve `{name}`, which its services import: {message}"),
    )
}

fn add(
    files: &mut BTreeMap<String, FileDescriptorProto>,
    missing: &mut VecDeque<String>,
    protos: Vec<Vec<u8>>,
) -> Result<(), Status> {
    for bytes in protos {
        let file = FileDescriptorProto::decode(bytes.as_slice())
            .map_err(|e| Status::internal(format!("undecodable file descriptor: {e}")))?;
        missing.extend(
            file.dependency
                .iter()
                .filter(|d| !files.contains_key(*d))
                .cloned(),
        );
        files.insert(file.name().to_string(), file);
    }
    Ok(())
}

/// `google/protobuf/*.proto` as protox knows it.
fn well_known(name: &str) -> Option<FileDescriptorProto> {
    use protox::file::FileResolver;
    let file = protox::file::GoogleFileResolver::new()
        .open_file(name)
        .ok()?;
    Some(file.file_descriptor_proto().clone())
}

/// One client per protocol version; the generated types differ only in
/// their package, so one body serves both.
macro_rules! reflection_client {
    ($version:ident) => {
        mod $version {
            use std::collections::BTreeMap;

            use prost_reflect::prost_types::FileDescriptorProto;
            use tokio::sync::mpsc;
            use tokio_stream::wrappers::ReceiverStream;
            use tonic::Status;
            use tonic::codec::Streaming;
            use tonic::transport::Channel;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            use tonic_reflection::pb::$version::{
                ServerReflectionRequest, ServerReflectionResponse,
            };

            use super::{Answer, Ask, STREAM_BUFFER, Session, walk};

            fn request(ask: Ask) -> ServerReflectionRequest {
                let message = match ask {
                    Ask::ListServices => MessageRequest::ListServices(String::new()),
                    Ask::FileContainingSymbol(s) => MessageRequest::FileContainingSymbol(s),
                    Ask::FileByFilename(f) => MessageRequest::FileByFilename(f),
                };
                ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(message),
                }
            }

            struct Stream {
                tx: mpsc::Sender<ServerReflectionRequest>,
                answers: Streaming<ServerReflectionResponse>,
                /// The first question went out with the stream.
                first: bool,
            }

            impl Session for Stream {
                async fn ask(&mut self, ask: Ask) -> Result<Answer, Status> {
                    if !std::mem::take(&mut self.first) && self.tx.send(request(ask)).await.is_err()
                    {
                        return Err(Status::internal("reflection stream closed"));
                    }
                    let reply = self
                        .answers
                        .message()
                        .await?
                        .ok_or_else(|| Status::internal("reflection stream ended early"))?;
                    Ok(match reply.message_response {
                        Some(MessageResponse::ListServicesResponse(list)) => {
                            Answer::Services(list.service.into_iter().map(|s| s.name).collect())
                        }
                        Some(MessageResponse::FileDescriptorResponse(files)) => {
                            Answer::Files(files.file_descriptor_proto)
                        }
                        Some(MessageResponse::ErrorResponse(e)) => Answer::Error {
                            code: e.error_code,
                            message: e.error_message,
                        },
                        _ => return Err(Status::internal("unexpected reflection answer")),
                    })
                }
            }

            pub(super) async fn fetch(
                channel: Channel,
            ) -> Result<BTreeMap<String, FileDescriptorProto>, Status> {
                let (tx, rx) = mpsc::channel(STREAM_BUFFER);
                // Queued before the stream opens: some servers send their
                // headers only with the first answer.
                let _ = tx.send(request(Ask::ListServices)).await;
                let mut client = ServerReflectionClient::new(channel);
                let answers = client
                    .server_reflection_info(ReceiverStream::new(rx))
                    .await?
                    .into_inner();
                walk(&mut Stream {
                    tx,
                    answers,
                    first: true,
                })
                .await
            }
        }
    };
}

reflection_client!(v1);
reflection_client!(v1alpha);
