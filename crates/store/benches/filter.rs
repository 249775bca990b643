//! Parsing a `search` filter and compiling it to SQL, the work every
//! searching list request does before it reaches PostgreSQL. Not a test:
//! `cargo bench -p idstore-store --bench filter`. Target: under 20 µs for
//! a five-clause filter.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use idstore_domain::filter;
use idstore_store::user_filter;
use sqlx::{Postgres, QueryBuilder};

const FIVE_CLAUSES: &str = r#"email sw "ann" and (custom_data.tier eq "gold" or status eq "Disabled") and created_at gt "2024-01-01T00:00:00Z" and not (phone_number pr)"#;

fn parse_and_compile(c: &mut Criterion) {
    c.bench_function("filter parse + compile (5 clauses)", |b| {
        b.iter(|| {
            let parsed = filter::parse(black_box(FIVE_CLAUSES)).unwrap();
            user_filter::check(&parsed).unwrap();
            let mut qb = QueryBuilder::<Postgres>::new("SELECT 1 FROM users u WHERE ");
            user_filter::push_filter(&mut qb, &parsed).unwrap();
            black_box(qb.sql());
        })
    });
    c.bench_function("filter parse only (5 clauses)", |b| {
        b.iter(|| filter::parse(black_box(FIVE_CLAUSES)).unwrap())
    });
}

criterion_group!(benches, parse_and_compile);
criterion_main!(benches);
