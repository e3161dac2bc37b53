//! Benchmarks of the auth layer: `verify_password` at the default Argon2id
//! parameters (19 MiB, 2 passes, 1 lane), `verify_api_key` throughput, and
//! envelope seal and open of 1, 16 and 64 KiB.
//!
//! Run with `cargo bench -p hightower-auth --bench auth`. The store lives
//! in the system temporary directory without fsync per write (verification
//! only reads).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hightower_auth::{
    ApiKeyOptions, AuthConfig, AuthService, BlobContext, EnvelopeEncryptor, LoginLimits, MasterKey,
    SecretHasher,
};
use hightower_engine::{Durability, EngineConfig, SingleNodeEngine};

const PASSWORD: &[u8] = b"correct horse battery staple";

fn service(dir: &std::path::Path) -> AuthService<SingleNodeEngine> {
    let config = EngineConfig::new(dir).durability(Durability::None);
    let engine = Arc::new(SingleNodeEngine::with_config(config).expect("open the engine"));
    let hasher = SecretHasher::builder().build().expect("default parameters");
    let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).expect("OS random"));
    let config = AuthConfig {
        login_limits: LoginLimits::off(),
        ..AuthConfig::default()
    };
    AuthService::with_config(engine, hasher, encryptor, config)
}

fn verify_password(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let auth = service(dir.path());
    auth.create_user("ada", PASSWORD, Vec::new())
        .expect("create the user");
    let mut group = c.benchmark_group("auth/verify_password");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("default_params_19mib_t2_p1", |b| {
        b.iter(|| {
            auth.verify_password("ada", black_box(PASSWORD), "bench")
                .expect("right password")
        });
    });
    group.bench_function("unknown_user_dummy_hash", |b| {
        b.iter(|| {
            let denied = auth.verify_password("nobody", black_box(PASSWORD), "bench");
            assert!(denied.is_err());
        });
    });
    group.finish();
}

fn verify_api_key(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let auth = service(dir.path());
    auth.create_user("ada", PASSWORD, Vec::new())
        .expect("create the user");
    let key = auth
        .create_api_key("ada", ApiKeyOptions::default())
        .expect("create a key");
    let token = key.token.expose_secret().to_owned();
    let mut group = c.benchmark_group("auth/verify_api_key");
    group.throughput(Throughput::Elements(1));
    group.bench_function("valid_key", |b| {
        b.iter(|| auth.verify_api_key(black_box(&token)).expect("valid key"));
    });
    let mut wrong = token.clone();
    wrong.replace_range(40..41, if &token[40..41] == "0" { "1" } else { "0" });
    group.bench_function("wrong_secret", |b| {
        b.iter(|| assert!(auth.verify_api_key(black_box(&wrong)).is_err()));
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).expect("OS random"));
    let context = BlobContext::new(b"user/ada/0123456789abcdef", "metadata");
    let mut group = c.benchmark_group("auth/envelope");
    for kib in [1usize, 16, 64] {
        let plaintext = vec![0x5au8; kib * 1024];
        let sealed = encryptor.seal(&plaintext, &context).expect("seal");
        group.throughput(Throughput::Bytes(plaintext.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("seal", format!("{kib}KiB")),
            &plaintext,
            |b, p| {
                b.iter(|| encryptor.seal(black_box(p), &context).expect("seal"));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("open", format!("{kib}KiB")),
            &sealed,
            |b, s| {
                b.iter(|| encryptor.open(black_box(s), &context).expect("open"));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, verify_password, verify_api_key, envelope);
criterion_main!(benches);
