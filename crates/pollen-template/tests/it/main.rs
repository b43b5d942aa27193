//! The integration tests of pollen-template: one module per feature, inputs and expected
//! outputs under `fixtures/` at the workspace root (`UPDATE_FIXTURES=1` regenerates them).

mod ceql;
