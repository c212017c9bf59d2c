//! Import and export endpoints.

use super::schema::{schema, to_normalized};
use super::upload::{save_body, upload_path};
use super::{Dedup, ImportSettings};
use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnivox_contacts::{
    ContactCsvWriter, ErrorReportWriter, ImportOptions, ImportReader, Mapping, PhoneType, Target,
    export_mapping, suggest_mapping, suggest_mapping_from_values,
};
use omnivox_domain::Permission;
use omnivox_store::PageRequest;
use omnivox_store::contacts::ContactFilter;
use omnivox_store::imports::{ImportErrorRow, ImportJob, NewImport};
use omnivox_store::{audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct ImportOut {
    pub id: Uuid,
    pub list_id: Uuid,
    /// uploaded, queued, running, completed, failed or cancelled.
    pub status: String,
    pub file_name: String,
    pub size_bytes: i64,
    pub rows_read: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub rows_duplicate: i64,
    pub error: Option<String>,
    pub columns: Vec<String>,
    pub encoding: String,
    /// The delimiter as a one-character string.
    pub delimiter: Option<String>,
    pub has_header: Option<bool>,
    #[schema(value_type = Vec<String>)]
    pub suggested_mapping: serde_json::Value,
    #[schema(value_type = Option<Vec<String>>)]
    pub mapping: Option<serde_json::Value>,
    pub dedup: Dedup,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ImportJob> for ImportOut {
    fn from(j: ImportJob) -> Self {
        let s: ImportSettings = serde_json::from_value(j.settings).unwrap_or_default();
        Self {
            id: j.id,
            list_id: j.list_id,
            status: j.status,
            file_name: j.file_name,
            size_bytes: j.size_bytes,
            rows_read: j.rows_read,
            rows_accepted: j.rows_accepted,
            rows_rejected: j.rows_rejected,
            rows_duplicate: j.rows_duplicate,
            error: j.error,
            columns: s.columns,
            encoding: s.encoding,
            delimiter: s.delimiter.map(|d| char::from(d).to_string()),
            has_header: s.has_header,
            suggested_mapping: s.suggested_mapping,
            mapping: s.mapping,
            dedup: s.dedup,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UploadedImport {
    pub import: ImportOut,
    /// The first rows, to check the mapping against.
    pub sample_rows: Vec<Vec<String>>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The original file name, for people.
    pub file_name: Option<String>,
}

/// Upload a CSV file (the request body, `text/csv`) to import into a list.
/// The file is streamed to disk and inspected: encoding, delimiter, header,
/// columns and a suggested mapping come back. Nothing is imported until
/// the import is started.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/lists/{list_id}/imports", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("list_id" = Uuid, Path), UploadQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = UploadedImport),
        (status = 400, description = "not_text, too_many_columns, line_too_long, record_too_long, empty_file", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<UploadedImport>)> {
    ctx.require(Permission::ContactManage)?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::middleware::is_upload_type(ct) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let list = ctx.scoped(state.store.reader()).get_list(ids.1).await?;
    let fields = ctx.scoped(state.store.reader()).custom_fields().await?;
    let schema = schema(&fields)?;
    let path = upload_path(
        &state.config.storage.data_dir,
        ctx.tenant.0,
        "imports",
        Uuid::now_v7(),
    );
    let size = save_body(
        req.into_body(),
        &path,
        state.config.imports.max_upload_bytes,
    )
    .await?;

    let inspect_path = path.clone();
    let inspected = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&inspect_path)?;
        let r = ImportReader::open(std::io::BufReader::new(file), ImportOptions::default())?;
        let mapping = match r.headers() {
            Some(h) => suggest_mapping(h, &schema),
            None => suggest_mapping_from_values(r.sample_rows()),
        };
        Ok::<_, omnivox_contacts::ContactsError>((
            r.column_names(),
            r.encoding(),
            r.dialect(),
            r.sample_rows().iter().take(5).cloned().collect::<Vec<_>>(),
            mapping,
        ))
    })
    .await
    .map_err(ApiError::internal)?;
    let (columns, encoding, dialect, sample_rows, mapping) = match inspected {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(ApiError::bad_request(e.code(), e.to_string()));
        }
    };
    let settings = ImportSettings {
        columns,
        encoding: format!("{encoding:?}").to_lowercase(),
        delimiter: Some(dialect.delimiter),
        has_header: Some(dialect.has_header),
        suggested_mapping: serde_json::to_value(&mapping).map_err(ApiError::internal)?,
        mapping: None,
        dedup: Dedup::default(),
    };
    let name = q.file_name.unwrap_or_else(|| "upload.csv".into());
    let tx = state.store.begin().await?;
    let job = ctx
        .scoped(&tx)
        .create_import(NewImport {
            list_id: list.id,
            file_name: &name.chars().take(255).collect::<String>(),
            stored_path: &path.to_string_lossy(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            settings: serde_json::to_value(&settings).map_err(ApiError::internal)?,
            created_by: ctx.user_id(),
        })
        .await;
    let job = match job {
        Ok(j) => j,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
    };
    let out = ImportOut::from(job);
    audit::record(
        &tx,
        ctx.audit("import.uploaded", "import", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadedImport {
            import: out,
            sample_rows,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartImport {
    /// One target per column: `first_name`, `phone`, `phone:mobile`,
    /// `custom:<key>`, `ignore`, ... Omit to use the suggested mapping.
    pub mapping: Option<Vec<String>>,
    #[serde(default)]
    pub dedup: Dedup,
    /// Override what was detected.
    pub has_header: Option<bool>,
    /// Override what was detected: one character.
    pub delimiter: Option<String>,
}

/// Start an uploaded import with a column mapping; it runs in the background.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/imports/{import_id}/start", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("import_id" = Uuid, Path)), request_body = StartImport,
    responses((status = 202, body = ImportOut), (status = 400, description = "invalid_mapping", body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<StartImport>,
) -> ApiResult<(StatusCode, Json<ImportOut>)> {
    ctx.require(Permission::ContactManage)?;
    let job = ctx.scoped(state.store.reader()).get_import(ids.1).await?;
    let mut settings: ImportSettings =
        serde_json::from_value(job.settings.clone()).map_err(ApiError::internal)?;
    let mapping = match req.mapping {
        Some(cols) => Mapping::new(cols.iter().map(|c| Target::parse(c)).collect()),
        None => serde_json::from_value(settings.suggested_mapping.clone())
            .map_err(ApiError::internal)?,
    };
    if mapping.columns().len() > settings.columns.len() {
        return Err(ApiError::field(
            "mapping",
            "too_many_targets",
            format!("the file has {} columns", settings.columns.len()),
        ));
    }
    let fields = ctx.scoped(state.store.reader()).custom_fields().await?;
    if let Err(e) = mapping.validate(&schema(&fields)?) {
        return Err(ApiError::BadRequest {
            code: "invalid_mapping",
            message: e.to_string(),
        });
    }
    if let Some(d) = req.delimiter {
        match d.as_bytes() {
            [b] if matches!(b, b',' | b';' | b'\t' | b'|') => settings.delimiter = Some(*b),
            _ => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "delimiter",
                    "invalid_delimiter",
                    "one of , ; | or a tab",
                )]));
            }
        }
    }
    if let Some(h) = req.has_header {
        settings.has_header = Some(h);
    }
    settings.mapping = Some(serde_json::to_value(&mapping).map_err(ApiError::internal)?);
    settings.dedup = req.dedup;
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    if !scoped
        .queue_import(
            ids.1,
            serde_json::to_value(&settings).map_err(ApiError::internal)?,
        )
        .await?
    {
        return Err(ApiError::conflict(
            "import_not_startable",
            format!("the import is {}", job.status),
        ));
    }
    let out = ImportOut::from(scoped.get_import(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("import.started", "import", ids.1, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    state.import_wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// One import, with its progress.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/imports/{import_id}", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("import_id" = Uuid, Path)),
    responses((status = 200, body = ImportOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ImportOut>> {
    ctx.require(Permission::ContactRead)?;
    Ok(Json(
        ctx.scoped(state.store.reader())
            .get_import(ids.1)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportListQuery {
    pub cursor: Option<String>,
    pub limit: Option<u64>,
    pub list_id: Option<Uuid>,
}

/// Imports, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/imports", tag = "imports",
    params(("tenant_id" = Uuid, Path), ImportListQuery),
    responses((status = 200, body = PageOut<ImportOut>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<ImportListQuery>,
) -> ApiResult<Json<PageOut<ImportOut>>> {
    ctx.require(Permission::ContactRead)?;
    let page = crate::routes::dto::page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(PageOut::from_page(
        ctx.scoped(state.store.reader())
            .list_imports(q.list_id, &page)
            .await?,
    )))
}

/// Cancel an import. Batches already committed stay; nothing of a batch in
/// flight lands.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/imports/{import_id}/cancel", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("import_id" = Uuid, Path)),
    responses((status = 202, body = ImportOut), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<ImportOut>)> {
    ctx.require(Permission::ContactManage)?;
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    if !scoped.cancel_import(ids.1).await? {
        return Err(ApiError::conflict(
            "import_finished",
            "the import has already finished",
        ));
    }
    let job = scoped.get_import(ids.1).await?;
    let stored_path = job.stored_path.clone();
    let out = ImportOut::from(job);
    audit::record(
        &tx,
        ctx.audit("import.cancelled", "import", ids.1, None, None),
    )
    .await?;
    commit(tx).await?;
    if out.status == "cancelled" {
        // It never ran: the upload is not needed (a running job's worker
        // removes it when it stops).
        let _ = tokio::fs::remove_file(&stored_path).await;
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

#[derive(Serialize, ToSchema)]
pub struct ImportErrorOut {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: i64,
    pub line: i64,
    pub column: String,
    /// error (row rejected) or warning (row imported).
    pub severity: String,
    pub code: String,
    pub reason: String,
    pub value: String,
}

impl From<ImportErrorRow> for ImportErrorOut {
    fn from(e: ImportErrorRow) -> Self {
        Self {
            row: e.row_number,
            line: e.line,
            column: e.column,
            severity: e.severity,
            code: e.code,
            reason: e.reason,
            value: e.value,
        }
    }
}

/// The row-level problems of an import.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/imports/{import_id}/errors", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("import_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<ImportErrorOut>)),
    security(("bearer" = [])))]
pub async fn errors(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<ImportErrorOut>>> {
    ctx.require(Permission::ContactRead)?;
    let scoped = ctx.scoped(state.store.reader());
    scoped.get_import(ids.1).await?;
    Ok(Json(PageOut::from_page(
        scoped.import_errors(ids.1, &q.page()?).await?,
    )))
}

pub(crate) const CSV_PAGE: u64 = 200;

/// A CSV body streamed page by page: `header`, then what `fetch` makes of
/// each page until it returns no next cursor. An error ends the stream (the
/// client sees a truncated download, never a half-written row).
pub(crate) fn paged_csv<F, Fut>(header: Vec<u8>, fetch: F) -> Body
where
    F: Fn(PageRequest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<(Vec<u8>, Option<String>)>> + Send,
{
    let start = (Some(header), Some(PageRequest::first(CSV_PAGE)), fetch);
    Body::from_stream(futures_util::stream::unfold(
        start,
        |(header, page, fetch)| async move {
            if let Some(h) = header {
                return Some((Ok(h), (None, page, fetch)));
            }
            let page = page?;
            match fetch(page).await {
                Ok((bytes, next)) => {
                    let next = next.and_then(|c| PageRequest::parse(Some(&c), Some(CSV_PAGE)).ok());
                    Some((Ok(bytes), (None, next, fetch)))
                }
                Err(e) => Some((Err(e), (None, None, fetch))),
            }
        },
    ))
}

pub(crate) fn csv_response(name: &str, body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The row-level error report as CSV (row, line, column, severity, code,
/// reason, value), streamed.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/imports/{import_id}/errors.csv", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("import_id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])))]
pub async fn errors_csv(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    ctx.require(Permission::ContactRead)?;
    ctx.scoped(state.store.reader()).get_import(ids.1).await?;
    let (tenant, import) = (ctx.tenant, ids.1);
    let header = {
        let w = ErrorReportWriter::new(Vec::new()).map_err(ApiError::internal)?;
        w.finish().map_err(ApiError::internal)?
    };
    let body = paged_csv(header, move |page| {
        let state = state.clone();
        async move {
            let rows = omnivox_store::Scoped::new(state.store.reader(), tenant)
                .import_errors(import, &page)
                .await
                .map_err(std::io::Error::other)?;
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            for e in rows.items {
                let cells = [
                    e.row_number.to_string(),
                    e.line.to_string(),
                    String::new(),
                    omnivox_contacts::escape_cell(&e.column).into_owned(),
                    e.severity,
                    e.code,
                    omnivox_contacts::escape_cell(&e.reason).into_owned(),
                    omnivox_contacts::escape_cell(&e.value).into_owned(),
                ];
                w.write_record(&cells).map_err(std::io::Error::other)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok((bytes, rows.next_cursor))
        }
    });
    Ok(csv_response(&format!("import-{import}-errors.csv"), body))
}

/// A list's contacts as CSV (formula-safe; import it back as is), streamed.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/lists/{list_id}/export.csv", tag = "imports",
    params(("tenant_id" = Uuid, Path), ("list_id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])))]
pub async fn export_csv(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    ctx.require(Permission::ContactRead)?;
    let scoped = ctx.scoped(state.store.reader());
    let list = scoped.get_list(ids.1).await?;
    let schema = schema(&scoped.custom_fields().await?)?;
    let phones = [
        PhoneType::Mobile,
        PhoneType::Home,
        PhoneType::Work,
        PhoneType::Other,
        PhoneType::Other,
    ];
    let mapping = export_mapping(&schema, &phones);
    let header = ContactCsvWriter::new(Vec::new(), &mapping, &schema)
        .and_then(|w| w.finish())
        .map_err(ApiError::internal)?;
    let tenant = ctx.tenant;
    let filter = ContactFilter {
        list_id: Some(list.id),
        ..ContactFilter::default()
    };
    let body = paged_csv(header, move |page| {
        let (state, filter, mapping, schema) = (
            state.clone(),
            filter.clone(),
            mapping.clone(),
            schema.clone(),
        );
        async move {
            let found = omnivox_store::Scoped::new(state.store.reader(), tenant)
                .search_contacts(&filter, &page)
                .await
                .map_err(std::io::Error::other)?;
            let mut w = ContactCsvWriter::new_headerless(Vec::new(), &mapping, &schema)
                .map_err(std::io::Error::other)?;
            for c in &found.items {
                w.write_contact(&to_normalized(c, &schema))
                    .map_err(std::io::Error::other)?;
            }
            Ok((
                w.finish().map_err(std::io::Error::other)?,
                found.next_cursor,
            ))
        }
    });
    let name = format!(
        "{}.csv",
        list.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    Ok(csv_response(&name, body))
}
