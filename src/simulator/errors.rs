//! Atlas' error bodies (`ApiError`) and the small response builders every handler shares.
//!
//! Errors are always `application/json`, never the versioned media type, carry
//! `{"detail","error","errorCode","parameters","reason"}` with `parameters` holding strings and
//! numbers, as real Atlas responses do (the spec's "array of objects" is wrong), and repeat the
//! code in an `X-Error-Code` header. The 401 is the exception, copied byte for byte from a
//! recorded one: pretty-printed, its own key order, no `parameters` and no `X-Error-Code`.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// The response type of every handler.
pub(crate) type Resp = Response<Full<Bytes>>;

/// The header that repeats an error's `errorCode`.
pub(crate) const X_ERROR_CODE: HeaderName = HeaderName::from_static("x-error-code");

/// Longest code repeated in `X-Error-Code`.
const MAX_HEADER_CODE_BYTES: usize = 256;

/// Atlas' 401 body, exactly as recorded (Jackson's pretty printer, no trailing newline).
pub(crate) const UNAUTHORIZED_BODY: &str = "{\n  \"error\" : 401,\n  \"reason\" : \"Unauthorized\",\n  \"detail\" : \"You are not authorized for this resource.\",\n  \"errorCode\" : \"UNEXPECTED_ERROR\"\n}";

/// An Atlas `ApiError`: status, code, detail and parameters.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) detail: String,
    pub(crate) parameters: Vec<Value>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<String>,
        parameters: Vec<Value>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            parameters,
        }
    }

    /// `RESOURCE_NOT_FOUND`, as for any path Atlas does not serve.
    pub(crate) fn resource_not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            format!("Cannot find resource {path}."),
            vec![json!(path)],
        )
    }

    /// `INVALID_GROUP_ID` (a 404 in Atlas, not a 400).
    pub(crate) fn invalid_group_id(group: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "INVALID_GROUP_ID",
            format!("An invalid group ID {group} was specified."),
            vec![json!(group)],
        )
    }

    pub(crate) fn group_not_found(group: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "GROUP_NOT_FOUND",
            format!("No group with ID {group} exists."),
            vec![json!(group)],
        )
    }

    /// An organization id of the right shape that names no organization. Atlas' text for this
    /// case is not in its error table; it follows `GROUP_NOT_FOUND`'s.
    pub(crate) fn org_not_found(org: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ORG_NOT_FOUND",
            format!("No organization with ID {org} exists."),
            vec![json!(org)],
        )
    }

    /// An organization id that is not 24 hex digits, answered as `INVALID_GROUP_ID` is (404).
    pub(crate) fn invalid_org_id(org: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "INVALID_ORG_ID",
            format!("An invalid organization ID {org} was specified."),
            vec![json!(org)],
        )
    }

    /// `BACKUP_CONFIG_NOT_FOUND`, with the text of Atlas' error table: the schedule of a
    /// cluster without Cloud Backup.
    pub(crate) fn backup_config_not_found(group: &str, cluster: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BACKUP_CONFIG_NOT_FOUND",
            format!("No backup configuration exists for cluster {cluster} in group {group}."),
            vec![json!(cluster), json!(group)],
        )
    }

    /// `PROVIDER_BACKUP_NOT_SUPPORTED`, with the text of Atlas' error table: snapshots of an
    /// M0 free cluster, which Atlas never backs up.
    pub(crate) fn provider_backup_not_supported() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "PROVIDER_BACKUP_NOT_SUPPORTED",
            "Provider snapshot backups are not supported for this type of provider.",
            Vec::new(),
        )
    }

    pub(crate) fn cluster_not_found(group: &str, cluster: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "CLUSTER_NOT_FOUND",
            format!("No cluster named {cluster} exists in group {group}."),
            vec![json!(cluster), json!(group)],
        )
    }

    /// Cloud Manager / Ops Manager: no cluster with this id in the project.
    pub(crate) fn manager_cluster_not_found(group: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "CLUSTER_NOT_FOUND",
            format!("No cluster with ID {id} exists in group {group}."),
            vec![json!(id), json!(group)],
        )
    }

    /// A cluster name that breaks `^[a-zA-Z0-9][a-zA-Z0-9-]*$`: the validation layer's 400.
    pub(crate) fn invalid_cluster_name(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Cluster name {name} is invalid."),
            vec![json!(name)],
        )
    }

    pub(crate) fn invalid_snapshot_id(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "INVALID_SNAPSHOT_ID",
            format!("An invalid snapshot ID {id} was specified."),
            vec![json!(id)],
        )
    }

    pub(crate) fn invalid_query_parameter(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_PARAMETER",
            format!("Invalid query parameter {name} specified."),
            vec![json!(name)],
        )
    }

    /// Verbatim from a real Atlas 406.
    pub(crate) fn not_acceptable() -> ApiError {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_VERSION_DATE",
            "Invalid accept header or version date.",
            Vec::new(),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP method {method} is not supported by this resource."),
            vec![json!(method)],
        )
    }

    pub(crate) fn unexpected_error() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            "Unexpected error.",
            Vec::new(),
        )
    }

    /// A retired API version or endpoint: the spec's `components.responses.gone` example.
    pub(crate) fn version_gone() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            "VERSION_GONE",
            "This happens when a resource is marked for sunset and the sunset date is in the past.",
            Vec::new(),
        )
    }

    pub(crate) fn ip_not_on_access_list(ip: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "IP_ADDRESS_NOT_ON_WHITELIST",
            format!("IP address {ip} is not allowed to access this resource."),
            vec![json!(ip)],
        )
    }

    /// Verbatim from a real Atlas 400 (recorded 2026-08-10): a non-flex cluster on a flex path.
    pub(crate) fn non_flex_cluster_in_flex_api(cluster: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API",
            format!("Cannot use non-flex cluster {cluster} in the flex API."),
            vec![json!(cluster)],
        )
    }

    /// Verbatim from a real Atlas 400 (recorded 2026-08-10): a flex cluster on a cluster path.
    pub(crate) fn flex_cluster_in_cluster_api(cluster: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API",
            format!("Flex cluster {cluster} cannot be used in the Cluster API."),
            vec![json!(cluster)],
        )
    }

    /// A 403 for an endpoint the key's role does not reach (a Project Read Only key on a
    /// Project Backup Manager endpoint). No recorded exchange shows this answer: the code and
    /// text are those of Atlas' error table for `USER_UNAUTHORIZED` ("Current user is not
    /// authorized to perform this action."), with the 403 the spec lists for these endpoints.
    pub(crate) fn insufficient_role() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "USER_UNAUTHORIZED",
            "Current user is not authorized to perform this action.",
            Vec::new(),
        )
    }

    /// `FEATURE_UNSUPPORTED`, with the text of Atlas' error table.
    pub(crate) fn feature_unsupported() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "FEATURE_UNSUPPORTED",
            "Feature not supported by current account level.",
            Vec::new(),
        )
    }

    /// The body as Atlas sends it.
    pub(crate) fn body(&self) -> Value {
        json!({
            "detail": self.detail,
            "error": self.status.as_u16(),
            "errorCode": self.code,
            "parameters": self.parameters,
            "reason": reason(self.status),
        })
    }

    pub(crate) fn into_response(self) -> Resp {
        let mut response = json_response(self.status, "application/json", &self.body(), false);
        // Atlas' codes are short; a hostile fault's code is too long for a header.
        if self.code.len() <= MAX_HEADER_CODE_BYTES {
            response
                .headers_mut()
                .insert(X_ERROR_CODE, HeaderValue::from_static(self.code));
        }
        response
    }
}

/// The HTTP reason phrase, as Atlas puts it in `reason`.
pub(crate) fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// A JSON response with the given content type.
pub(crate) fn json_response(
    status: StatusCode,
    content_type: &str,
    body: &Value,
    pretty: bool,
) -> Resp {
    bytes_response(status, content_type, to_bytes(body, pretty))
}

/// Serialises a JSON value, compact or indented.
pub(crate) fn to_bytes(body: &Value, pretty: bool) -> Bytes {
    let bytes = if pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    };
    // Serialising a `Value` cannot fail (its map keys are strings); fall back to `{}` anyway.
    Bytes::from(bytes.unwrap_or_else(|_| b"{}".to_vec()))
}

/// A response with a raw body and the given content type.
pub(crate) fn bytes_response(status: StatusCode, content_type: &str, body: Bytes) -> Resp {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
