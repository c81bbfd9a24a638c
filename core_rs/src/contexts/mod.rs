//! The bounded contexts' models, each decided by applying its internal topic, and the relays'
//! translations between their public and internal topics.

pub mod catalog;
pub mod checkout;
pub mod content;
pub mod fulfilment;
pub mod id;
pub mod relay;
pub mod search;
pub mod stock;
