//! `Custom::EcrRepository`: CloudFormation's custom resource protocol, and the repository
//! provisioning it drives.

mod confirm;
mod model;
mod plan;
mod progress;
mod provision;
mod respond;
mod transport;

pub use confirm::{
    confirm, response_url_allowed, still_manages, StackLookupError, StackResource, Stacks, RESOURCE_TYPE,
};
pub use model::{
    response_body, url_host, Envelope, Outcome, Request, RequestError, RequestType, Status, MAX_RESPONSE_BYTES,
};
pub use plan::{preview, ActualRepository, Change, Plan, Preview};
pub use progress::RequestProgress;
pub use provision::{failed_create_id, NoWorkloads, Provisioner};
pub use respond::{CustomResourceHandler, Handled, HandlerError, ResponsePolicy};
pub use transport::{ResponseTransport, TransportError};
#[cfg(test)]
mod tests;
