//! Kafka from Rust (librdkafka through the rdkafka crate): consuming topics into projections and
//! producing the shoppers' commands and the relays' writes, all without the GIL.

mod commands;
mod error;
mod feed;
mod relay_writes;

pub use commands::Commands;
pub use error::KafkaClientError;
pub use feed::Feed;
pub use relay_writes::{RelayBatch, RelayWriter};
