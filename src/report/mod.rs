//! What commands show, as data (`views`), and how it is rendered: `plain` text for people,
//! JSON (the views' serde form) for machines.

pub mod drift;
pub mod export;
pub mod github;
pub mod html;
pub mod ocsf;
pub mod plain;
pub mod spool;
pub mod stream;
pub mod trace;
pub mod views;
pub mod which;
