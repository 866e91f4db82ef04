/// The store's migrations, in order, as embedded from `schema/*.sql`.
public enum Schema {
    public struct Migration: Sendable {
        /// The file name without extension, e.g. `001_store`; also the migration's identifier.
        public var name: String
        public var sql: String
    }

    public static let migrations: [Migration] = [
        Migration(name: "001_store", sql: String(decoding: PackageResources._01_store_sql, as: UTF8.self)),
        Migration(name: "002_pull", sql: String(decoding: PackageResources._02_pull_sql, as: UTF8.self)),
        Migration(name: "003_rollup_parts", sql: String(decoding: PackageResources._03_rollup_parts_sql, as: UTF8.self)),
        Migration(name: "004_lifecycle", sql: String(decoding: PackageResources._04_lifecycle_sql, as: UTF8.self)),
        Migration(name: "005_message_logged", sql: String(decoding: PackageResources._05_message_logged_sql, as: UTF8.self)),
        Migration(name: "006_changes", sql: String(decoding: PackageResources._06_changes_sql, as: UTF8.self)),
        Migration(name: "007_direction_and_labels", sql: String(decoding: PackageResources._07_direction_and_labels_sql, as: UTF8.self)),
        Migration(name: "008_export_manifest", sql: String(decoding: PackageResources._08_export_manifest_sql, as: UTF8.self)),
        Migration(name: "009_message_groups", sql: String(decoding: PackageResources._09_message_groups_sql, as: UTF8.self)),
        Migration(name: "010_edge_sums", sql: String(decoding: PackageResources._10_edge_sums_sql, as: UTF8.self)),
        Migration(name: "011_coverage_hours", sql: String(decoding: PackageResources._11_coverage_hours_sql, as: UTF8.self)),
        Migration(name: "012_rollup_marks", sql: String(decoding: PackageResources._12_rollup_marks_sql, as: UTF8.self)),
    ]

    /// The ClickHouse backend's migrations (SPEC §12, issue 19), in order, as embedded from
    /// `schema/clickhouse/*.sql`: statements separated by a semicolon at the end of a line.
    public static let clickhouseMigrations: [Migration] = [
        Migration(name: "001_clickhouse_store", sql: String(decoding: PackageResources._01_clickhouse_store_sql, as: UTF8.self)),
        Migration(name: "002_reads_and_checkpoints", sql: String(decoding: PackageResources._02_reads_and_checkpoints_sql, as: UTF8.self)),
        Migration(name: "003_rollups", sql: String(decoding: PackageResources._03_rollups_sql, as: UTF8.self)),
        Migration(name: "004_sightings", sql: String(decoding: PackageResources._04_sightings_sql, as: UTF8.self)),
        Migration(name: "005_client_rollups", sql: String(decoding: PackageResources._05_client_rollups_sql, as: UTF8.self)),
        Migration(name: "006_day_sums", sql: String(decoding: PackageResources._06_day_sums_sql, as: UTF8.self)),
    ]
}
