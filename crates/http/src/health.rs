//! `/health/live` and `/health/ready`.

use lead_inbox_application::LeadQueries;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::ApiTags;

#[derive(Debug, Object)]
#[oai(example)]
pub struct HealthStatus {
    /// `ok`, or `unavailable` with the failing check.
    pub status: String,
    /// What was checked: `process` or `database`.
    pub check: String,
}

impl poem_openapi::types::Example for HealthStatus {
    fn example() -> Self {
        HealthStatus {
            status: "ok".into(),
            check: "database".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
    /// Not ready: the database cannot serve requests now.
    #[oai(status = 503)]
    Unavailable(Json<HealthStatus>),
}

pub struct HealthApi {
    queries: Option<LeadQueries>,
}

impl HealthApi {
    pub fn new(queries: Option<LeadQueries>) -> Self {
        HealthApi { queries }
    }
}

fn status(status: &str, check: &str) -> Json<HealthStatus> {
    Json(HealthStatus {
        status: status.to_owned(),
        check: check.to_owned(),
    })
}

#[OpenApi]
impl HealthApi {
    /// Liveness
    ///
    /// `200` while the process serves HTTP. For a liveness probe.
    #[oai(
        path = "/health/live",
        method = "get",
        operation_id = "live",
        tag = "ApiTags::Health"
    )]
    async fn live(&self) -> HealthResponse {
        HealthResponse::Ok(status("ok", "process"))
    }

    /// Readiness
    ///
    /// `200` when the database answers, `503` otherwise. For a readiness probe and a
    /// load balancer: an instance that is not ready cannot store leads.
    #[oai(
        path = "/health/ready",
        method = "get",
        operation_id = "ready",
        tag = "ApiTags::Health"
    )]
    async fn ready(&self) -> HealthResponse {
        let ready = match &self.queries {
            Some(queries) => queries.ready().await,
            None => return HealthResponse::Unavailable(status("unavailable", "database")),
        };
        match ready {
            Ok(()) => HealthResponse::Ok(status("ok", "database")),
            Err(error) => {
                tracing::warn!(error = %error, "readiness check failed");
                HealthResponse::Unavailable(status("unavailable", "database"))
            }
        }
    }
}
