//! Plain data the layers hand each other, below all of them: the store fills and reads it, the engines decide on
//! it, and none of them imports another for it.

pub mod reconcile;
