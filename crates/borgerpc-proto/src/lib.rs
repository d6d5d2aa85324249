//! The OS2borgerPC client protocol, as the unmodified `os2borgerpc-client` speaks it.
//!
//! - [`client_api`]: the JSON messages of `/client-api/<endpoint>` (client 3.x).
//! - [`xmlrpc`]: the XML-RPC encoding of `/admin-xml/` (client 2.x), which carries the same
//!   operations with positional arguments.
//!
//! Pure: no IO, no runtime, no web framework. The server maps both encodings onto one set of
//! operations, so the two protocols cannot drift apart.

#![warn(missing_docs)]

pub mod client_api;
pub mod xmlrpc;
