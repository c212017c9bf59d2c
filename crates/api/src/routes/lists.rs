//! Contact lists and the tenant's custom contact fields.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::Permission;
use omnivox_store::lists::{ContactList, CustomField, ListPatch, NewCustomField, NewList};
use omnivox_store::{StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct ListOut {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// ISO 3166 region used to read numbers written without a country code.
    pub default_region: String,
    pub source: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<ContactList> for ListOut {
    fn from(l: ContactList) -> Self {
        Self {
            id: l.id,
            name: l.name,
            description: l.description,
            default_region: l.default_region,
            source: l.source,
            created_by: l.created_by,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default `US`.
    pub default_region: Option<String>,
    #[serde(default)]
    pub source: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateList {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_region: Option<String>,
    pub source: Option<String>,
}

fn check_list(errors: &mut Vec<FieldError>, name: Option<&str>, region: Option<&str>) {
    if let Some(n) = name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        errors.push(FieldError::new(
            "name",
            "invalid_length",
            "must be 1 to 200 characters",
        ));
    }
    if let Some(r) = region
        && omnivox_contacts::Region::parse(r).is_err()
    {
        errors.push(FieldError::new(
            "default_region",
            "invalid_region",
            format!(
                "`{r}` is not an ISO 3166 region with a telephone numbering plan (e.g. US, GB)"
            ),
        ));
    }
}

fn name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::field("name", "taken", "a list with this name exists"),
        e => e.into(),
    }
}

/// Lists of the tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/lists", tag = "contacts",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<ListOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_lists(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<ListOut>>> {
    ctx.require(Permission::ContactRead)?;
    Ok(Json(PageOut::from_page(
        ctx.scoped(state.store.reader())
            .list_lists(&q.page()?)
            .await?,
    )))
}

/// Create a list.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/lists", tag = "contacts",
    params(("tenant_id" = Uuid, Path)), request_body = CreateList,
    responses((status = 201, body = ListOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<CreateList>,
) -> ApiResult<(StatusCode, Json<ListOut>)> {
    ctx.require(Permission::ContactManage)?;
    let region = req
        .default_region
        .unwrap_or_else(|| "US".into())
        .to_uppercase();
    let mut errors = Vec::new();
    check_list(&mut errors, Some(&req.name), Some(&region));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tx = state.store.begin().await?;
    let list = ctx
        .scoped(&tx)
        .create_list(NewList {
            name: req.name.trim(),
            description: &req.description,
            default_region: &region,
            source: &req.source,
            created_by: ctx.user_id(),
        })
        .await
        .map_err(name_taken)?;
    let out = ListOut::from(list);
    audit::record(
        &tx,
        ctx.audit("list.created", "list", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One list.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/lists/{list_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("list_id" = Uuid, Path)),
    responses((status = 200, body = ListOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ListOut>> {
    ctx.require(Permission::ContactRead)?;
    Ok(Json(
        ctx.scoped(state.store.reader())
            .get_list(ids.1)
            .await?
            .into(),
    ))
}

/// Change a list.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/lists/{list_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("list_id" = Uuid, Path)), request_body = UpdateList,
    responses((status = 200, body = ListOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<UpdateList>,
) -> ApiResult<Json<ListOut>> {
    ctx.require(Permission::ContactManage)?;
    let region = req.default_region.map(|r| r.to_uppercase());
    let mut errors = Vec::new();
    check_list(&mut errors, req.name.as_deref(), region.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tx = state.store.begin().await?;
    let (before, after) = ctx
        .scoped(&tx)
        .update_list(
            ids.1,
            ListPatch {
                name: req.name.map(|n| n.trim().to_owned()),
                description: req.description,
                default_region: region,
                source: req.source,
            },
        )
        .await
        .map_err(name_taken)?;
    let (before, after) = (ListOut::from(before), ListOut::from(after));
    audit::record(
        &tx,
        ctx.audit("list.updated", "list", ids.1, json(&before), json(&after)),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(after))
}

/// Delete a list and its contacts.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/lists/{list_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("list_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::ContactManage)?;
    let tx = state.store.begin().await?;
    let before = ListOut::from(ctx.scoped(&tx).delete_list(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("list.deleted", "list", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct CustomFieldOut {
    pub id: Uuid,
    pub key: String,
    pub label: String,
    /// text, number, date, boolean or choice.
    pub kind: String,
    pub choices: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<CustomField> for CustomFieldOut {
    fn from(f: CustomField) -> Self {
        Self {
            id: f.id,
            key: f.key,
            label: f.label,
            kind: f.kind,
            choices: serde_json::from_value(f.choices).unwrap_or_default(),
            created_at: f.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomField {
    /// `[a-z][a-z0-9_]*`, at most 63 characters, not a standard field name.
    pub key: String,
    pub label: String,
    pub kind: String,
    #[serde(default)]
    pub choices: Vec<String>,
}

/// The tenant's custom contact fields.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/custom-fields", tag = "contacts",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Vec<CustomFieldOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_custom_fields(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<Vec<CustomFieldOut>>> {
    ctx.require(Permission::ContactRead)?;
    let fields = ctx.scoped(state.store.reader()).custom_fields().await?;
    Ok(Json(fields.into_iter().map(Into::into).collect()))
}

/// Define a custom contact field.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/custom-fields", tag = "contacts",
    params(("tenant_id" = Uuid, Path)), request_body = CreateCustomField,
    responses((status = 201, body = CustomFieldOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_custom_field(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<CreateCustomField>,
) -> ApiResult<(StatusCode, Json<CustomFieldOut>)> {
    ctx.require(Permission::ContactManage)?;
    let field_type = match req.kind.as_str() {
        "text" => omnivox_contacts::FieldType::Text,
        "number" => omnivox_contacts::FieldType::Number,
        "date" => omnivox_contacts::FieldType::Date,
        "boolean" => omnivox_contacts::FieldType::Boolean,
        "choice" => omnivox_contacts::FieldType::Choice {
            allowed: req.choices.clone(),
        },
        _ => {
            return Err(ApiError::field(
                "kind",
                "invalid_kind",
                "text, number, date, boolean or choice",
            ));
        }
    };
    if req.kind != "choice" && !req.choices.is_empty() {
        return Err(ApiError::field(
            "choices",
            "not_a_choice",
            "only choice fields have choices",
        ));
    }
    if req.label.trim().is_empty() || req.label.chars().count() > 100 {
        return Err(ApiError::field(
            "label",
            "invalid_length",
            "must be 1 to 100 characters",
        ));
    }
    let new_field =
        omnivox_contacts::CustomField::new(req.key.clone(), req.label.clone(), field_type);
    if let Err(e) = omnivox_contacts::Schema::new(vec![new_field]) {
        return Err(ApiError::field("key", e.code(), e.to_string()));
    }
    let tx = state.store.begin().await?;
    let f = ctx
        .scoped(&tx)
        .create_custom_field(NewCustomField {
            key: &req.key,
            label: req.label.trim(),
            kind: &req.kind,
            choices: serde_json::json!(req.choices),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::field("key", "taken", "a field with this key exists")
            }
            e => e.into(),
        })?;
    let out = CustomFieldOut::from(f);
    audit::record(
        &tx,
        ctx.audit(
            "custom_field.created",
            "custom_field",
            out.id,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Remove a custom field definition (values already stored stay on contacts).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/custom-fields/{field_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("field_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_custom_field(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::ContactManage)?;
    let tx = state.store.begin().await?;
    let before = CustomFieldOut::from(ctx.scoped(&tx).delete_custom_field(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit(
            "custom_field.deleted",
            "custom_field",
            ids.1,
            json(&before),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}
