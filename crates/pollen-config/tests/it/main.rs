//! pollen-config's integration tests: the instance fixtures under `fixtures/instances/`, the
//! typed values of the seed examples, secret redaction and the masked serialisation.

mod fixtures;
mod props;
mod secrets;
mod seed;
mod support;
