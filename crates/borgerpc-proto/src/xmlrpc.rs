//! XML-RPC (placeholder; being written).
