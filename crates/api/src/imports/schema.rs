//! The tenant's contact schema, and converting between the contacts engine's
//! values and stored rows.

use crate::error::ApiError;
use omnivox_contacts::{
    ContactPhone, CustomField, CustomValue, FieldType, NormalizedContact, PhoneType, Schema,
};
use omnivox_store::contacts::{Contact, NewContact, NewPhone};
use omnivox_store::lists::CustomField as StoredField;

/// A stored custom field definition as the engine's type.
pub fn field_def(f: &StoredField) -> Result<CustomField, ApiError> {
    let field_type = match f.kind.as_str() {
        "text" => FieldType::Text,
        "number" => FieldType::Number,
        "date" => FieldType::Date,
        "boolean" => FieldType::Boolean,
        "choice" => FieldType::Choice {
            allowed: serde_json::from_value(f.choices.clone()).map_err(ApiError::internal)?,
        },
        other => return Err(ApiError::internal(format!("stored field kind {other}"))),
    };
    Ok(CustomField::new(f.key.clone(), f.label.clone(), field_type))
}

pub fn schema(fields: &[StoredField]) -> Result<Schema, ApiError> {
    let defs = fields
        .iter()
        .map(field_def)
        .collect::<Result<Vec<_>, _>>()?;
    Schema::new(defs).map_err(ApiError::internal)
}

/// What the store keeps of a normalized contact.
pub fn to_new_contact(c: NormalizedContact) -> NewContact {
    let dedup_key = omnivox_contacts::dedup_key(&c)
        .map(|k| k.as_str().to_owned())
        .unwrap_or_default();
    let custom = c
        .custom
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    NewContact {
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        address1: c.address1,
        address2: c.address2,
        city: c.city,
        state: c.state,
        postal_code: c.postal_code,
        country: c.country,
        external_id: c.external_id,
        custom,
        dedup_key,
        phones: c
            .phones
            .into_iter()
            .map(|p| NewPhone {
                e164: p.e164,
                kind: p.phone_type.as_str().to_owned(),
                extension: p.extension,
            })
            .collect(),
    }
}

/// A stored contact back as the engine's type (for export), reading custom
/// values with the schema.
pub fn to_normalized(c: &Contact, schema: &Schema) -> NormalizedContact {
    let r = &c.row;
    let mut custom = std::collections::BTreeMap::new();
    if let Some(obj) = r.custom.as_object() {
        for (k, v) in obj {
            let kind = schema.custom(k).map(|f| &f.field_type);
            let value = match (kind, v) {
                (_, serde_json::Value::Bool(b)) => CustomValue::Boolean(*b),
                (_, serde_json::Value::Number(n)) => {
                    CustomValue::Number(n.as_f64().unwrap_or_default())
                }
                (Some(FieldType::Date), serde_json::Value::String(s)) => {
                    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                        Ok(d) => CustomValue::Date(d),
                        Err(_) => CustomValue::Text(s.clone()),
                    }
                }
                (_, serde_json::Value::String(s)) => CustomValue::Text(s.clone()),
                _ => continue,
            };
            custom.insert(k.clone(), value);
        }
    }
    NormalizedContact {
        first_name: r.first_name.clone(),
        last_name: r.last_name.clone(),
        email: r.email.clone(),
        address1: r.address1.clone(),
        address2: r.address2.clone(),
        city: r.city.clone(),
        state: r.state.clone(),
        postal_code: r.postal_code.clone(),
        country: r.country.clone(),
        external_id: r.external_id.clone(),
        phones: c
            .phones
            .iter()
            .map(|p| ContactPhone {
                e164: p.e164.clone(),
                extension: p.extension.clone(),
                phone_type: PhoneType::from_name(&p.kind).unwrap_or(PhoneType::Other),
            })
            .collect(),
        custom,
    }
}
