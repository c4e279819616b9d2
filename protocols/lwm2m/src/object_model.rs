//! OMA LwM2M object definitions from the registry's XML files (schema `LWM2M.xsd`:
//! `LWM2M/Object/{Name, ObjectID, MultipleInstances, Mandatory, Resources/Item[@ID]/{Name,
//! Operations, MultipleInstances, Mandatory, Type}}`), parsed with `roxmltree`.
//!
//! TLV and plain text carry no types, so decoding them needs these definitions (EMQX's
//! `xml_dir`, emqx-conventions §3.1/§3.6).

use std::collections::BTreeMap;

/// A resource's data type (OMA LwM2M TS 1.1 Core Appendix C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `String`.
    String,
    /// `Integer`.
    Integer,
    /// `Unsigned Integer` (1.1).
    UnsignedInteger,
    /// `Float`.
    Float,
    /// `Boolean`.
    Boolean,
    /// `Opaque`.
    Opaque,
    /// `Time`.
    Time,
    /// `Objlnk`.
    Objlnk,
    /// `Corelnk` (1.1).
    Corelnk,
    /// Empty `<Type/>`: executable resources.
    None,
}

impl ResourceType {
    /// From the XML `<Type>` text or EMQX's JSON `type` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "string" => Self::String,
            "integer" => Self::Integer,
            "unsigned integer" | "unsignedinteger" | "unsigned" => Self::UnsignedInteger,
            "float" => Self::Float,
            "boolean" => Self::Boolean,
            "opaque" => Self::Opaque,
            "time" => Self::Time,
            "objlnk" => Self::Objlnk,
            "corelnk" => Self::Corelnk,
            "" | "none" => Self::None,
            _ => return None,
        })
    }

    /// The registry's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Integer => "Integer",
            Self::UnsignedInteger => "Unsigned Integer",
            Self::Float => "Float",
            Self::Boolean => "Boolean",
            Self::Opaque => "Opaque",
            Self::Time => "Time",
            Self::Objlnk => "Objlnk",
            Self::Corelnk => "Corelnk",
            Self::None => "none",
        }
    }
}

/// Allowed operations (`<Operations>`: `R`, `W`, `RW`, `E` or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Operations {
    /// Read.
    pub read: bool,
    /// Write.
    pub write: bool,
    /// Execute.
    pub execute: bool,
}

impl Operations {
    /// From the XML text.
    pub fn parse(s: &str) -> Self {
        let s = s.trim().to_ascii_uppercase();
        Self { read: s.contains('R'), write: s.contains('W'), execute: s.contains('E') }
    }
}

/// One `<Item>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// `@ID`.
    pub id: u16,
    /// `<Name>`.
    pub name: String,
    /// `<Operations>`.
    pub operations: Operations,
    /// `<MultipleInstances>Multiple`.
    pub multiple: bool,
    /// `<Mandatory>Mandatory`.
    pub mandatory: bool,
    /// `<Type>`.
    pub rtype: ResourceType,
}

/// One `<Object>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDef {
    /// `<ObjectID>`.
    pub id: u16,
    /// `<Name>`.
    pub name: String,
    /// `<ObjectVersion>` (default `1.0`).
    pub version: String,
    /// `<MultipleInstances>Multiple`.
    pub multiple: bool,
    /// `<Mandatory>Mandatory`.
    pub mandatory: bool,
    /// Resources by id.
    pub resources: BTreeMap<u16, ResourceDef>,
}

/// An object definition file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Not well-formed XML.
    #[error("XML: {0}")]
    Xml(String),
    /// A required element is missing or has a bad value.
    #[error("object definition: {0}")]
    Invalid(String),
    /// Reading a file or directory failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children().find(|c| c.has_tag_name(name)).map(|c| c.text().unwrap_or("").trim())
}

fn parse_object(obj: roxmltree::Node<'_, '_>) -> Result<ObjectDef, ModelError> {
    let invalid = |what: &str| ModelError::Invalid(what.to_owned());
    let id = child_text(obj, "ObjectID")
        .and_then(|t| t.parse::<u16>().ok())
        .ok_or_else(|| invalid("missing or bad <ObjectID>"))?;
    let name = child_text(obj, "Name").unwrap_or("").to_owned();
    let version = child_text(obj, "ObjectVersion").filter(|v| !v.is_empty()).unwrap_or("1.0").to_owned();
    let multiple = child_text(obj, "MultipleInstances").is_some_and(|t| t.eq_ignore_ascii_case("Multiple"));
    let mandatory = child_text(obj, "Mandatory").is_some_and(|t| t.eq_ignore_ascii_case("Mandatory"));
    let mut resources = BTreeMap::new();
    if let Some(res) = obj.children().find(|c| c.has_tag_name("Resources")) {
        for item in res.children().filter(|c| c.has_tag_name("Item")) {
            let rid = item
                .attribute("ID")
                .and_then(|t| t.trim().parse::<u16>().ok())
                .ok_or_else(|| invalid(&format!("object {id}: <Item> without a valid ID")))?;
            let type_text = child_text(item, "Type").unwrap_or("");
            let rtype = ResourceType::parse(type_text)
                .ok_or_else(|| invalid(&format!("object {id} resource {rid}: unknown <Type> {type_text:?}")))?;
            resources.insert(
                rid,
                ResourceDef {
                    id: rid,
                    name: child_text(item, "Name").unwrap_or("").to_owned(),
                    operations: Operations::parse(child_text(item, "Operations").unwrap_or("")),
                    multiple: child_text(item, "MultipleInstances").is_some_and(|t| t.eq_ignore_ascii_case("Multiple")),
                    mandatory: child_text(item, "Mandatory").is_some_and(|t| t.eq_ignore_ascii_case("Mandatory")),
                    rtype,
                },
            );
        }
    }
    Ok(ObjectDef { id, name, version, multiple, mandatory, resources })
}

/// Parses every `<Object>` of one XML document (`<LWM2M>` root).
pub fn parse_xml(xml: &str) -> Result<Vec<ObjectDef>, ModelError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| ModelError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name("LWM2M") {
        return Err(ModelError::Invalid(format!("root element <{}>, expected <LWM2M>", root.tag_name().name())));
    }
    root.children().filter(|c| c.has_tag_name("Object")).map(parse_object).collect()
}

/// The loaded object definitions, by object id.
#[derive(Debug, Clone, Default)]
pub struct ObjectRegistry {
    objects: BTreeMap<u16, ObjectDef>,
}

impl ObjectRegistry {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a definition.
    pub fn insert(&mut self, def: ObjectDef) {
        self.objects.insert(def.id, def);
    }

    /// Adds the objects of one XML document; returns their ids.
    pub fn load_xml(&mut self, xml: &str) -> Result<Vec<u16>, ModelError> {
        let defs = parse_xml(xml)?;
        let ids = defs.iter().map(|d| d.id).collect();
        for def in defs {
            self.insert(def);
        }
        Ok(ids)
    }

    /// Loads every `*.xml` file of a directory (EMQX's `xml_dir`), in name order. Plain
    /// `std::fs`, meant for start-up.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, ModelError> {
        let io = |p: &std::path::Path, e: std::io::Error| ModelError::Io {
            path: p.display().to_string(),
            reason: e.to_string(),
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
            .collect();
        files.sort();
        let mut reg = Self::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| io(&f, e))?;
            reg.load_xml(&text).map_err(|e| ModelError::Io { path: f.display().to_string(), reason: e.to_string() })?;
        }
        Ok(reg)
    }

    /// An object definition.
    pub fn object(&self, id: u16) -> Option<&ObjectDef> {
        self.objects.get(&id)
    }

    /// A resource definition.
    pub fn resource(&self, object: u16, resource: u16) -> Option<&ResourceDef> {
        self.objects.get(&object)?.resources.get(&resource)
    }

    /// Loaded object ids.
    pub fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.objects.keys().copied()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// No object loaded.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Object ObjectType="MODefinition">
    <Name>Temperature</Name><ObjectID>3303</ObjectID><ObjectVersion>1.1</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory><Type>Float</Type></Item>
      <Item ID="5605"><Name>Reset Min and Max Measured Values</Name><Operations>E</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Type></Type></Item>
    </Resources>
  </Object>
</LWM2M>"#;

    #[test]
    fn parses_items() {
        let mut reg = ObjectRegistry::new();
        assert_eq!(reg.load_xml(XML).unwrap(), vec![3303]);
        let obj = reg.object(3303).unwrap();
        assert!(obj.multiple && !obj.mandatory);
        assert_eq!(obj.version, "1.1");
        let r = reg.resource(3303, 5700).unwrap();
        assert_eq!((r.rtype, r.operations.read, r.mandatory), (ResourceType::Float, true, true));
        assert_eq!(reg.resource(3303, 5605).unwrap().rtype, ResourceType::None);
        assert!(reg.resource(3303, 1).is_none());
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(matches!(parse_xml("<LWM2M><Object>"), Err(ModelError::Xml(_))));
        assert!(matches!(parse_xml("<Other/>"), Err(ModelError::Invalid(_))));
        assert!(parse_xml("<LWM2M><Object><Name>x</Name></Object></LWM2M>").is_err());
    }
}
