//! pollen-config (essay to come)

mod load;
mod model;
mod poller;
mod problem;
mod render;
pub mod schema;
mod secret;
mod walk;

pub use load::Loaded;
pub use model::{
    ApiVersion, BasicAuth, Configuration, Country, DateField, DateFormatSetting,
    DatesConfiguration, ElementKey, Extra, FieldPath, InstanceConfig, Notification, OAuth, PollUrl,
    Poller, ProviderData, Resource, Sage, ZoneSetting,
};
pub use problem::{ConfigErrors, Problem, ProblemKind, Severity};
pub use render::Secrets;
pub use secret::{Secret, MASK};
