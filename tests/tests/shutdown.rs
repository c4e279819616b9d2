//! Graceful shutdown.

use gw_tests::codec::{reason, QoS};
use gw_tests::{spawn_gateway, TestClient};
use tokio::net::TcpStream;

/// `Running::shutdown` tells every 5.0 client DISCONNECT 0x8B Server shutting down (§4.13.2)
/// and closes; a 3.1.1 client is closed; the listener stops accepting.
#[tokio::test]
async fn shutdown_sends_server_shutting_down() {
    let gw = spawn_gateway(|_| {}).await;
    let addr = gw.tcp;
    let mut c5 = TestClient::v5(addr, "sd-5").await;
    c5.subscribe("sd/t", QoS::AtLeastOnce).await;
    let mut c3 = TestClient::v311(addr, "sd-311").await;
    tokio::time::timeout(std::time::Duration::from_secs(8), gw.shutdown()).await.expect("shutdown is bounded");
    c5.expect_disconnect(reason::SERVER_SHUTTING_DOWN).await;
    c3.expect_closed().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed after shutdown");
}
