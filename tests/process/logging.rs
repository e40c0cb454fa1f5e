//! Logs never hold a token or a signature. tracing caches per-callsite interest process-wide, so
//! a thread-local subscriber is only reliable without parallel tests that hit the same callsites
//! with none: the test runs under [`serial`](crate::serial).

use std::sync::Arc;

use warden_integration_tests::now;
use warden_integration_tests::oidc_app;

#[test]
fn never_logs_the_token() {
    let _serial = crate::serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(logs_no_token());
}

async fn logs_no_token() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (issuer, app) = oidc_app().await;
    let good = issuer.token().sign();
    let tampered = issuer.token().sign_tampered();
    let expired = issuer.token().expires_at(now() - 3600).sign();
    let garbage = "Zm9vYmFyYmF6cXV4";
    for token in [&good, &tampered, &expired, &garbage.to_owned()] {
        app.get_me_with(token).await;
    }
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request refused"),
        "the refusals were logged: {logs}"
    );
    for token in [&good, &tampered, &expired] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a signature reached the logs");
        assert!(!logs.contains(token.as_str()), "a token reached the logs");
    }
    assert!(!logs.contains(garbage));
}
