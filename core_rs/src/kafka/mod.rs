//! Kafka from Rust (librdkafka through the rdkafka crate): consuming topics into projections and
//! producing the shoppers' commands, both without the GIL.

mod commands;
mod error;
mod feed;

pub use commands::Commands;
pub use error::KafkaClientError;
pub use feed::Feed;
