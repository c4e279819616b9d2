//! The configuration files in `etc/` parse, document their defaults, and bad values are
//! refused naming the key.

use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use gw_server::GatewayConfig;

fn etc() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../etc")
}

#[test]
fn every_file_in_etc_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(etc()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let figment = Figment::from(Serialized::defaults(GatewayConfig::default())).merge(Toml::file(&path));
            GatewayConfig::from_figment(&figment).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 1);
}

#[test]
fn etc_gateway_toml_states_the_defaults() {
    // The shipped file documents every key with its default: parsing it alone (no
    // built-in defaults underneath) must give exactly the defaults.
    let figment = Figment::from(Toml::file(etc().join("gateway.toml")));
    let from_file: GatewayConfig = figment.extract().unwrap();
    assert_eq!(from_file, GatewayConfig::default());
}

fn load(toml: &str) -> Result<GatewayConfig, String> {
    let figment = Figment::from(Serialized::defaults(GatewayConfig::default())).merge(Toml::string(toml));
    GatewayConfig::from_figment(&figment).map_err(|e| e.to_string())
}

#[test]
fn bad_values_name_the_key() {
    let e = load("[mqtt]\nmax_mqueue_len = \"lots\"").unwrap_err();
    assert!(e.contains("mqtt.max_mqueue_len"), "{e}");
    let e = load("[mqtt]\nsession_expiry_interval = \"soon\"").unwrap_err();
    assert!(e.contains("mqtt.session_expiry_interval"), "{e}");
    let e = load("[mqtt]\nmax_qos_allowed = 3").unwrap_err();
    assert!(e.contains("mqtt.max_qos_allowed"), "{e}");
    let e = load("[listeners.tcp.default]\nbind = \"nowhere\"").unwrap_err();
    assert!(e.contains("listeners.tcp.default.bind"), "{e}");
    let e = load("[listeners.tcp.default]\nhibernate_after = \"0s\"").unwrap_err();
    assert!(e.contains("listeners.tcp.default.hibernate_after"), "{e}");
    let e = load("[gateway.stomp.listeners.tcp.default]\nhibernate_after = \"0s\"").unwrap_err();
    assert!(e.contains("gateway.stomp.listeners.tcp.default.hibernate_after"), "{e}");
    let e = load("[mqtt]\nno_such_key = 1").unwrap_err();
    assert!(e.contains("no_such_key"), "{e}");
}

#[test]
fn values_parse_as_emqx_writes_them() {
    let c =
        load("[mqtt]\nsession_expiry_interval = \"1h\"\nmax_packet_size = \"64KB\"\nretry_interval = \"30s\"").unwrap();
    assert_eq!(c.mqtt.session_expiry_interval.get(), Some(std::time::Duration::from_secs(3600)));
    assert_eq!(c.mqtt.max_packet_size.0, 65536);
    assert_eq!(c.bus().session.retry_interval, Some(std::time::Duration::from_secs(30)));
    let c = load("[listeners.tcp.default.tcp_options]\nbuffer = \"4KB\"").unwrap();
    assert_eq!(c.listeners.tcp["default"].tcp_options.buffer.0, 4096);
    let c = load("[listeners.tcp.default]\nhibernate_after = \"disabled\"").unwrap();
    assert_eq!(c.listeners.tcp["default"].hibernate_after.get(), None);
    // Back-pressure off turns the stall window off too: nothing pauses publishers.
    let c = load("[mqtt]\npublish_backpressure = \"disabled\"").unwrap();
    assert_eq!(c.bus().session.publish_backpressure_stall, None);
    assert_eq!(c.bus().session.publish_backpressure_stall.is_none(), c.mqtt_settings().publish_backpressure.is_none());
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn environment_overrides_nested_keys() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEWAY_MQTT__MAX_MQUEUE_LEN", "500");
        jail.set_env("GATEWAY_LISTENERS__TCP__DEFAULT__BIND", "127.0.0.1:1999");
        // Variables of tools that start the gateway are not configuration.
        jail.set_env("GATEWAY_CMD", "target/release/gateway");
        jail.set_env("GATEWAY_PORT", "1883");
        let c = GatewayConfig::load(None).map_err(|e| e.to_string())?;
        assert_eq!(c.mqtt.max_mqueue_len, 500);
        assert_eq!(c.listeners.tcp["default"].bind, "127.0.0.1:1999");
        Ok(())
    });
}
