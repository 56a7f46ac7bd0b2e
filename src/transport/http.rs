//! HTTP transport over reqwest: JSON bodies for POST/PUT/PATCH, query strings
//! for GET/DELETE, status codes classified for retry and compensation.
