//! The test utilities themselves: servers start, answer, die, pause and come back.

use std::time::Duration;

use cache_redis::test_util::{RedisCluster, RedisServer};

fn ping(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection_with_timeout(Duration::from_millis(500))?;
    connection.set_read_timeout(Some(Duration::from_millis(500)))?;
    redis::cmd("PING").query(&mut connection)
}

#[test]
fn server_kill_pause_resume_restart() {
    let mut server = RedisServer::start().unwrap();
    assert_eq!(ping(&server.url()).unwrap(), "PONG");

    server.pause().unwrap();
    assert!(
        ping(&server.url()).is_err(),
        "a paused server must not answer"
    );
    server.resume().unwrap();
    assert_eq!(ping(&server.url()).unwrap(), "PONG");

    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert!(ping(&server.url()).is_err());
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_eq!(ping(&server.url()).unwrap(), "PONG");
}

#[test]
fn cluster_has_three_masters_sharing_the_slots() {
    let cluster = RedisCluster::start().unwrap();
    assert_eq!(cluster.node_urls().len(), 3);
    let client = redis::cluster::ClusterClient::new(cluster.node_urls()).unwrap();
    let mut connection = client.get_connection().unwrap();
    for i in 0..30 {
        let _: () = redis::cmd("SET")
            .arg(format!("key{i}"))
            .arg(i)
            .query(&mut connection)
            .unwrap();
    }
    // Keys landed on every master.
    for url in cluster.node_urls() {
        let client = redis::Client::open(url).unwrap();
        let mut node = client.get_connection().unwrap();
        let size: u64 = redis::cmd("DBSIZE").query(&mut node).unwrap();
        assert!(size > 0);
    }
}
