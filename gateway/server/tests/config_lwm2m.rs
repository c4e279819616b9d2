//! `gateway.lwm2m.*` and the CoAP transmission parameters shared with `gateway.coap.*`: the
//! values reach the front-end settings, bad ones are refused naming the key.

use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use gw_server::GatewayConfig;

fn load(toml: &str) -> Result<GatewayConfig, String> {
    let figment = Figment::from(Serialized::defaults(GatewayConfig::default())).merge(Toml::string(toml));
    GatewayConfig::from_figment(&figment).map_err(|e| e.to_string())
}

#[test]
fn transmission_parameters_reach_both_front_ends() {
    let c = load(
        "[gateway.lwm2m]\nxml_dir = \"../../etc/lwm2m_xml\"\n\
         [gateway.lwm2m.transmission]\nack_timeout = \"100ms\"\nmax_retransmit = 1\n\
         [gateway.coap.transmission]\nack_timeout = \"3s\"\nack_random_factor = 1.0",
    )
    .unwrap();
    let lw = c.lwm2m_settings().unwrap().transmission;
    assert_eq!((lw.ack_timeout, lw.max_retransmit, lw.ack_random_factor), (Duration::from_millis(100), 1, 1.5));
    let coap = c.coap_settings().channel.transmission;
    assert_eq!((coap.ack_timeout, coap.max_retransmit, coap.ack_random_factor), (Duration::from_secs(3), 4, 1.0));
    // The defaults are RFC 7252's, lifetimes included.
    let d = GatewayConfig::default();
    assert_eq!(d.coap_settings().channel.transmission, gw_coap::transaction::TransmissionParams::default());
}

#[test]
fn bad_transmission_values_name_the_key() {
    for (toml, key) in [
        ("[gateway.lwm2m.transmission]\nack_timeout = \"0s\"", "gateway.lwm2m.transmission.ack_timeout"),
        ("[gateway.lwm2m.transmission]\nmax_retransmit = 11", "gateway.lwm2m.transmission.max_retransmit"),
        ("[gateway.coap.transmission]\nack_random_factor = 0.5", "gateway.coap.transmission.ack_random_factor"),
        ("[gateway.coap.transmission]\nack_timeout = \"infinity\"", "gateway.coap.transmission.ack_timeout"),
        ("[gateway.coap.transmission]\nmax_retransmit = -1", "gateway.coap.transmission.max_retransmit"),
    ] {
        let e = load(toml).unwrap_err();
        assert!(e.contains(key), "{toml}: {e}");
    }
}

#[test]
fn auto_observe_takes_every_emqx_form() {
    use gw_lwm2m::Path;
    use gw_mapping::lwm2m::AutoObserve;
    let resolve =
        |toml: &str| load(&format!("[gateway.lwm2m]\n{toml}")).map(|c| c.gateway.lwm2m.auto_observe.resolve());
    assert_eq!(resolve("auto_observe = true").unwrap(), Ok(AutoObserve::Objects));
    assert_eq!(resolve("auto_observe = false").unwrap(), Ok(AutoObserve::Off));
    assert_eq!(resolve("auto_observe = \"on\"").unwrap(), Ok(AutoObserve::Objects));
    assert_eq!(resolve("auto_observe = \"off\"").unwrap(), Ok(AutoObserve::Off));
    let both = AutoObserve::Paths(vec![Path::instance(3, 0), Path::resource(3, 0, 1)]);
    assert_eq!(resolve("auto_observe = \"/3/0, /3/0/1\"").unwrap(), Ok(both.clone()));
    assert_eq!(resolve("auto_observe = [\"/3/0\", \"/3/0/1\"]").unwrap(), Ok(both));
    assert_eq!(resolve("auto_observe = \"\"").unwrap(), Ok(AutoObserve::Off));
    for bad in ["auto_observe = \"/3/x\"", "auto_observe = [\"/3/0\", \"3//1\"]", "auto_observe = 5"] {
        let e = resolve(bad).unwrap_err();
        assert!(e.contains("gateway.lwm2m.auto_observe"), "{bad}: {e}");
    }
}

#[test]
fn lwm2m_blockwise_reaches_the_front_end() {
    use gw_lwm2m::blockwise::BlockLimits;
    let c = load("[gateway.lwm2m]\nxml_dir = \"../../etc/lwm2m_xml\"\n[gateway.lwm2m.blockwise]\nmax_block_size = 64")
        .unwrap();
    let limits = BlockLimits { max_block_size: 64, max_body_size: 4 << 20 };
    assert_eq!(c.lwm2m_settings().unwrap().blockwise, Some(limits));
    let off =
        load("[gateway.lwm2m]\nxml_dir = \"../../etc/lwm2m_xml\"\n[gateway.lwm2m.blockwise]\nenable = false").unwrap();
    assert_eq!(off.lwm2m_settings().unwrap().blockwise, None);
    let e = load("[gateway.lwm2m.blockwise]\nmax_block_size = 100").unwrap_err();
    assert!(e.contains("gateway.lwm2m.blockwise.max_block_size"), "{e}");
}
