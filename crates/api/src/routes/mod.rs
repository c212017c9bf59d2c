//! The HTTP surface: every route, its middleware, and the OpenAPI document
//! generated from the handlers.

pub mod acd_settings;
pub mod agents;
pub mod api_keys;
pub mod audio;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod campaign_preview;
pub mod campaigns;
pub mod cdrs;
pub mod contacts;
pub mod decisions;
pub mod dids;
pub mod dispositions;
pub mod dnc;
pub mod dto;
pub mod events;
pub mod flow_secrets;
pub mod flows;
pub mod health;
pub mod lists;
pub mod me;
pub mod members;
pub mod monitor;
pub mod prompts;
pub mod queue_callbacks;
pub mod queues;
pub mod recordings;
pub mod setup;
pub mod sip;
pub mod telephony;
pub mod tenants;
pub mod voicemail;

use crate::auth::principal::authenticate;
use crate::error::{ApiError, ErrorBody};
use crate::imports::routes as imports;
use crate::middleware::{self as mw, idempotency::idempotency, observe, rate_limit};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/api/docs";

#[derive(OpenApi)]
#[openapi(
    info(title = "Omnivox API", description = "Self-hosted contact center: tenants, users, auth, audit."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The API routes (documented in OpenAPI).
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(setup::setup_status, setup::finish_setup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(me::get_me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::revoke_session))
        .routes(routes!(me::enroll_2fa))
        .routes(routes!(me::verify_2fa))
        .routes(routes!(me::disable_2fa))
        .routes(routes!(tenants::list_tenants, tenants::create_tenant))
        .routes(routes!(tenants::get_tenant, tenants::update_tenant))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(
            members::get_member,
            members::update_member,
            members::remove_member
        ))
        .routes(routes!(members::unlock_member))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(audit::list_audit))
        .routes(routes!(lists::list_lists, lists::create_list))
        .routes(routes!(
            lists::get_list,
            lists::update_list,
            lists::delete_list
        ))
        .routes(routes!(
            lists::list_custom_fields,
            lists::create_custom_field
        ))
        .routes(routes!(lists::delete_custom_field))
        .routes(routes!(contacts::search_contacts))
        .routes(routes!(contacts::get_contact, contacts::delete_contact))
        .routes(routes!(contacts::consent_history, contacts::record_consent))
        .routes(routes!(imports::upload))
        .routes(routes!(imports::start))
        .routes(routes!(imports::get))
        .routes(routes!(imports::list))
        .routes(routes!(imports::cancel))
        .routes(routes!(imports::errors))
        .routes(routes!(imports::errors_csv))
        .routes(routes!(imports::export_csv))
        .routes(routes!(dnc::list_dnc, dnc::add_dnc))
        .routes(routes!(dnc::remove_dnc))
        .routes(routes!(decisions::decide))
        .routes(routes!(decisions::decisions))
        .routes(routes!(decisions::get_settings, decisions::put_settings))
        .routes(routes!(
            decisions::upload_registry,
            decisions::list_registries
        ))
        .routes(routes!(sip::set_account, sip::delete_account))
        .routes(routes!(sip::registrations))
        .routes(routes!(telephony::list_trunks, telephony::create_trunk))
        .routes(routes!(
            telephony::get_trunk,
            telephony::update_trunk,
            telephony::delete_trunk
        ))
        .routes(routes!(dids::list_dids, dids::create_did))
        .routes(routes!(dids::get_did, dids::update_did, dids::delete_did))
        .routes(routes!(
            telephony::get_dial_policy,
            telephony::put_dial_policy
        ))
        .routes(routes!(cdrs::list_cdrs))
        .routes(routes!(cdrs::export_cdrs))
        .routes(routes!(cdrs::get_cdr))
        .routes(routes!(events::stream))
        .routes(routes!(calls::list_calls, calls::originate))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::hangup))
        .routes(routes!(calls::hold))
        .routes(routes!(calls::resume))
        .routes(routes!(calls::transfer))
        .routes(routes!(calls::consult))
        .routes(routes!(calls::consult_complete))
        .routes(routes!(calls::consult_cancel))
        .routes(routes!(calls::dtmf))
        .routes(routes!(monitor::start, monitor::set_mode, monitor::stop))
        .routes(routes!(events::websocket))
        .routes(routes!(prompts::list_prompts, prompts::upload_prompt))
        .routes(routes!(prompts::get_prompt, prompts::delete_prompt))
        .routes(routes!(prompts::prompt_audio))
        .routes(routes!(recordings::start_recording))
        .routes(routes!(recordings::stop_recording))
        .routes(routes!(recordings::pause_recording))
        .routes(routes!(recordings::resume_recording))
        .routes(routes!(recordings::list_recordings))
        .routes(routes!(
            recordings::get_recording,
            recordings::delete_recording
        ))
        .routes(routes!(recordings::recording_audio))
        .routes(routes!(recordings::get_settings, recordings::put_settings))
        .routes(routes!(
            campaigns::list_campaigns,
            campaigns::create_campaign
        ))
        .routes(routes!(
            campaigns::get_campaign,
            campaigns::update_campaign,
            campaigns::delete_campaign
        ))
        .routes(routes!(campaigns::start_campaign))
        .routes(routes!(campaigns::pause_campaign))
        .routes(routes!(campaigns::resume_campaign))
        .routes(routes!(campaigns::stop_campaign))
        .routes(routes!(campaigns::archive_campaign))
        .routes(routes!(campaigns::list_campaign_lists))
        .routes(routes!(campaigns::attach_list, campaigns::detach_list))
        .routes(routes!(campaigns::get_hopper))
        .routes(routes!(campaigns::fill_hopper))
        .routes(routes!(campaigns::list_leads))
        .routes(routes!(campaigns::reassign_callback))
        .routes(routes!(campaigns::list_attempts))
        .routes(routes!(campaigns::campaign_stats))
        .routes(routes!(campaign_preview::preview_next))
        .routes(routes!(campaign_preview::preview_dial))
        .routes(routes!(campaign_preview::preview_skip))
        .routes(routes!(flows::list_flows, flows::create_flow))
        .routes(routes!(flows::get_flow, flows::delete_flow))
        .routes(routes!(flows::save_draft))
        .routes(routes!(flows::publish_flow))
        .routes(routes!(flows::rollback_flow))
        .routes(routes!(flows::list_versions))
        .routes(routes!(flows::get_version))
        .routes(routes!(flows::diff_flow))
        .routes(routes!(flows::simulate_flow))
        .routes(routes!(flows::list_runs))
        .routes(routes!(flow_secrets::list_flow_secrets))
        .routes(routes!(
            flow_secrets::put_flow_secret,
            flow_secrets::delete_flow_secret
        ))
        .routes(routes!(
            acd_settings::get_acd_settings,
            acd_settings::put_acd_settings
        ))
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::put_profile))
        .routes(routes!(agents::change_state))
        .routes(routes!(agents::agent_history))
        .routes(routes!(agents::finish_wrap_up))
        .routes(routes!(
            agents::list_reason_codes,
            agents::create_reason_code
        ))
        .routes(routes!(
            agents::get_reason_code,
            agents::update_reason_code,
            agents::delete_reason_code
        ))
        .routes(routes!(
            dispositions::list_disposition_codes,
            dispositions::create_disposition_code
        ))
        .routes(routes!(
            dispositions::get_disposition_code,
            dispositions::update_disposition_code,
            dispositions::delete_disposition_code
        ))
        .routes(routes!(queues::list_queues, queues::create_queue))
        .routes(routes!(
            queues::get_queue,
            queues::update_queue,
            queues::delete_queue
        ))
        .routes(routes!(queues::queue_stats))
        .routes(routes!(queue_callbacks::list_callbacks))
        .routes(routes!(queue_callbacks::cancel_callback))
        .routes(routes!(voicemail::list_boxes, voicemail::create_box))
        .routes(routes!(
            voicemail::get_box,
            voicemail::update_box,
            voicemail::delete_box
        ))
        .routes(routes!(voicemail::list_messages))
        .routes(routes!(voicemail::get_message, voicemail::delete_message))
        .routes(routes!(voicemail::message_audio))
        .routes(routes!(voicemail::set_heard))
}

/// The OpenAPI document, for `omnivox openapi` and the tests.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = api_routes()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.http.body_limit_bytes;
    let (api, _) = api_routes().split_for_parts();
    let api = api
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), idempotency))
        .layer(from_fn_with_state(state.clone(), rate_limit::per_principal))
        .layer(from_fn_with_state(state.clone(), authenticate))
        .layer(from_fn_with_state(state.clone(), rate_limit::per_ip))
        .layer(from_fn_with_state(state.clone(), mw::declared_body_limit))
        .layer(from_fn_with_state(state.clone(), mw::refuse_when_draining))
        .layer(from_fn_with_state(state.clone(), mw::client_addr::resolve));
    let ops = Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(ops)
        .fallback(not_found)
        .layer(from_fn(observe::metrics))
        .with_state(state)
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, openapi()))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let rid = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // `route` is filled in with the route template once routing is done.
                tracing::info_span!("http", method = %req.method(), route = tracing::field::Empty,
                request_id = %rid, principal = tracing::field::Empty)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
