//! Tokens and secrets: opaque random secrets now; JWT signing comes with the
//! OAuth issue.

pub mod master_key;
pub mod opaque;
pub mod signing;
