//! The API orchestration example (`examples/api_orchestration.rs`): the record, the machine
//! generated from `machines/api_orchestration.yaml` and its async functions, which call the
//! services of [`api_server`](crate::api_server) through the machine's `http` resources
//! (`AsyncHttp`: reqwest, a bulkhead and a circuit breaker per endpoint).

use fsm_runtime::{Change, Context, FnError};
use serde::{Deserialize, Serialize};

#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/api_orchestration.rs"));
}

pub use generated::{
    ApiOrchestration, ApiOrchestrationEnd, ApiOrchestrationFns, ApiOrchestrationResources, ApiOrchestrationState,
};

/// A credit application, as read, then what the services said.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// The customer's id.
    pub id: u64,
    /// From the customer service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// From the order service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<Orders>,
    /// From the credit bureau.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
    /// The decision, once posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
}

/// `GET /customers/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The id.
    pub id: u64,
    /// The name.
    pub name: String,
    /// `retail`, `business` or `premium`.
    pub segment: String,
}

/// `GET /orders/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Orders {
    /// Orders placed.
    pub count: u64,
    /// Their total, in cents.
    pub total_cents: u64,
}

/// `GET /credit/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// 300 to 850.
    pub score: u64,
}

/// What `POST /decisions` receives.
#[derive(Clone, Debug, Serialize)]
struct Decision<'a> {
    id: u64,
    segment: &'a str,
    approved: bool,
}

/// The machine's functions: stateless, the handles are the machine's resources.
#[derive(Clone, Copy, Debug, Default)]
pub struct Api;

type Ctx<'a> = Context<'a, ApiOrchestrationResources>;

impl ApiOrchestrationFns for Api {
    async fn fetch_customer(&self, app: &mut Application, ctx: &mut Ctx<'_>) -> Result<(), FnError> {
        let path = app.id.to_string();
        app.customer = Some(ctx.resources().customers.get_json(&path).await?);
        Ok(())
    }

    async fn fetch_orders(&self, app: &Application, ctx: &mut Ctx<'_>) -> Result<Change<Application>, FnError> {
        let orders: Orders = ctx.resources().orders.get_json(&app.id.to_string()).await?;
        Ok(Box::new(move |app| app.orders = Some(orders)))
    }

    async fn fetch_credit(&self, app: &Application, ctx: &mut Ctx<'_>) -> Result<Change<Application>, FnError> {
        let credit: Credit = ctx.resources().credit.get_json(&app.id.to_string()).await?;
        Ok(Box::new(move |app| app.credit = Some(credit)))
    }

    async fn post_decision(&self, app: &mut Application, ctx: &mut Ctx<'_>) -> Result<(), FnError> {
        let approved = decide(app);
        let segment = app.customer.as_ref().map_or("", |c| c.segment.as_str());
        let decision = Decision {
            id: app.id,
            segment,
            approved,
        };
        ctx.resources().decisions.post_json("", &decision).await?;
        app.approved = Some(approved);
        Ok(())
    }
}

/// Approved: a score of 600 or more, or 500 or more for a customer with orders worth 100.00.
pub fn decide(app: &Application) -> bool {
    let score = app.credit.as_ref().map_or(0, |c| c.score);
    let spent = app.orders.as_ref().map_or(0, |o| o.total_cents);
    score >= 600 || (score >= 500 && spent >= 10_000)
}
