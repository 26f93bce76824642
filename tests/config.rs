//! The config loader, from the outside: a table of bad files in `tests/testdata/config/`, each
//! paired with the exact error text an operator sees, then good files with the values they give.

// Tests may panic on purpose: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use atlas_snapshot_exporter::config::{
    AtlasConfig, Config, ConfigError, Credentials, DiscoveryConfig, ENV_CLIENT_ID,
    ENV_CLIENT_SECRET, ENV_PRIVATE_API_KEY, ENV_PUBLIC_API_KEY, Flavor, Problem, Watch,
    WatchConfig,
};
use atlas_snapshot_exporter::target::{ApiVersion, Kind};

const TESTDATA: &str = "tests/testdata/config";

/// An environment with nothing set.
const NO_ENV: &[(&str, &str)] = &[];

/// A complete API key pair in the environment, so that a case about another key shows only its
/// own problem.
const API_KEY_ENV: &[(&str, &str)] = &[
    (ENV_PUBLIC_API_KEY, "envpublic"),
    (ENV_PRIVATE_API_KEY, "envprivate"),
];

/// A complete service account in the environment.
const SERVICE_ACCOUNT_ENV: &[(&str, &str)] = &[
    (ENV_CLIENT_ID, "mdb_sa_id_env"),
    (ENV_CLIENT_SECRET, "mdb_sa_sk_env"),
];

/// A lookup that sees only `vars`.
fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

fn load(file: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_env(&Path::new(TESTDATA).join(file), &env(vars))
}

fn load_ok(file: &str, vars: &[(&str, &str)]) -> Config {
    load(file, vars).unwrap_or_else(|err| panic!("{file} should load:\n{}", err.render()))
}

fn render_err<T: std::fmt::Debug>(result: Result<T, ConfigError>) -> String {
    result.expect_err("the config should be rejected").render()
}

macro_rules! no_credentials {
    () => {
        "no credentials: set an API key pair (atlas.public_key with atlas.private_key or \
         atlas.private_key_file, or the environment variables MONGODB_ATLAS_PUBLIC_API_KEY and \
         MONGODB_ATLAS_PRIVATE_API_KEY) or a service account (atlas.client_id with \
         atlas.client_secret or atlas.client_secret_file, or the environment variables \
         MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET)"
    };
}

/// One bad file: the environment it is loaded with and every line of the rendered error.
struct Case {
    file: &'static str,
    env: &'static [(&'static str, &'static str)],
    expected: &'static [&'static str],
}

const BAD_FILES: &[Case] = &[
    Case {
        file: "unknown_top_level_key.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/unknown_top_level_key.yaml: poll_intervall: unknown key \"poll_intervall\"; did you mean \"poll_interval\"?",
        ],
    },
    Case {
        file: "unknown_nested_keys.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/unknown_nested_keys.yaml: atlas.timout: unknown key \"timout\"; did you mean \"timeout\"?",
            "tests/testdata/config/unknown_nested_keys.yaml: atlas.privateKey: unknown key \"privateKey\"; did you mean \"private_key\"?",
            "tests/testdata/config/unknown_nested_keys.yaml: projects[0].cluster: unknown key \"cluster\"; did you mean \"clusters\"?",
            "tests/testdata/config/unknown_nested_keys.yaml: projects[0].clusters[0].knd: unknown key \"knd\"; did you mean \"kind\"?",
        ],
    },
    Case {
        file: "unknown_key_without_suggestion.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/unknown_key_without_suggestion.yaml: scrape_timeout: unknown key \"scrape_timeout\"; expected one of atlas, poll_interval, discovery, shard, restores, exports, projects",
        ],
    },
    Case {
        file: "duplicate_key.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duplicate_key.yaml: poll_interval: duplicate key \"poll_interval\": it is already set earlier in this mapping",
        ],
    },
    Case {
        file: "bad_project_id.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_project_id.yaml: projects[0].id: invalid project id \"5b69d0349b15c62cdfc38b7\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78",
            "tests/testdata/config/bad_project_id.yaml: projects[1].id: invalid project id \"production\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78",
        ],
    },
    Case {
        file: "uppercase_project_id.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/uppercase_project_id.yaml: projects[0].id: invalid project id \"5B69D0349B15C62CDFC38B78\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78; write it in lowercase",
        ],
    },
    Case {
        file: "numeric_project_id.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/numeric_project_id.yaml: projects[0].id: expected a string of 24 hex digits, found a number; put the value in quotes",
        ],
    },
    Case {
        file: "bad_cluster_name.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_cluster_name.yaml: projects[0].clusters[0].name: invalid cluster name \"my_cluster\": expected ASCII letters, digits and hyphens, starting with a letter or digit",
            "tests/testdata/config/bad_cluster_name.yaml: projects[0].clusters[1].name: invalid cluster name \"-leading-hyphen\": expected ASCII letters, digits and hyphens, starting with a letter or digit",
        ],
    },
    Case {
        file: "cluster_name_too_long.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/cluster_name_too_long.yaml: projects[0].clusters[0].name: the cluster name is 66 characters long; the limit is 64",
        ],
    },
    Case {
        file: "cluster_as_string.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/cluster_as_string.yaml: projects[0].clusters[0]: expected a mapping with name and kind, found a string; write - name: Cluster0",
        ],
    },
    Case {
        file: "duplicate_cluster.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duplicate_cluster.yaml: projects[0].clusters[2].name: duplicate cluster \"Cluster0\": already listed at projects[0].clusters[0]",
        ],
    },
    Case {
        file: "duplicate_project.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duplicate_project.yaml: projects[2].id: duplicate project \"5b69d0349b15c62cdfc38b78\": already listed at projects[0]; merge the two clusters lists into one entry",
        ],
    },
    Case {
        file: "missing_project_keys.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/missing_project_keys.yaml: projects[0]: missing required key \"id\"",
            "tests/testdata/config/missing_project_keys.yaml: projects[0]: missing required key \"clusters\"",
            "tests/testdata/config/missing_project_keys.yaml: projects[1].clusters[0]: missing required key \"name\"",
        ],
    },
    Case {
        file: "missing_projects.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/missing_projects.yaml: missing required key \"projects\": list the projects and clusters to poll",
        ],
    },
    Case {
        file: "empty_projects.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/empty_projects.yaml: projects: must list at least one project",
        ],
    },
    Case {
        file: "empty_clusters.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/empty_clusters.yaml: projects[0].clusters: must list at least one cluster",
            "tests/testdata/config/empty_clusters.yaml: projects[1].clusters: must list at least one cluster",
        ],
    },
    Case {
        file: "empty_project_name.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/empty_project_name.yaml: projects[0].name: is empty; leave the key out for no name",
        ],
    },
    Case {
        file: "missing_credentials.yaml",
        env: NO_ENV,
        expected: &[concat!(
            "tests/testdata/config/missing_credentials.yaml: atlas: ",
            no_credentials!()
        )],
    },
    Case {
        file: "half_api_key.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/half_api_key.yaml: atlas: the API key pair is incomplete: the public key is set (from atlas.public_key) but the private key is missing; set atlas.private_key, atlas.private_key_file or the environment variable MONGODB_ATLAS_PRIVATE_API_KEY",
        ],
    },
    Case {
        file: "half_service_account.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/half_service_account.yaml: atlas: the service account is incomplete: the client secret is set (from atlas.client_secret_file) but the client id is missing; set atlas.client_id or the environment variable MONGODB_ATLAS_CLIENT_ID",
        ],
    },
    Case {
        file: "both_auth_methods.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/both_auth_methods.yaml: atlas: both an API key pair (from atlas.public_key and atlas.private_key) and a service account (from atlas.client_id and atlas.client_secret_file) are set; choose one and remove the other",
        ],
    },
    Case {
        // The service account in the file and an API key pair in the environment: still two.
        file: "good_service_account.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/good_service_account.yaml: atlas: both an API key pair (from the environment variable MONGODB_ATLAS_PUBLIC_API_KEY and the environment variable MONGODB_ATLAS_PRIVATE_API_KEY) and a service account (from atlas.client_id and atlas.client_secret_file) are set; choose one and remove the other",
        ],
    },
    Case {
        file: "private_key_and_file.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/private_key_and_file.yaml: atlas.private_key_file: cannot be set together with atlas.private_key; keep one",
        ],
    },
    Case {
        file: "unreadable_private_key_file.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/unreadable_private_key_file.yaml: atlas.private_key_file: cannot read tests/testdata/config/no-such-private.key: No such file or directory (os error 2)",
        ],
    },
    Case {
        file: "empty_private_key_file.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/empty_private_key_file.yaml: atlas.private_key_file: the file tests/testdata/config/empty.key is empty",
        ],
    },
    Case {
        file: "empty_credential.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/empty_credential.yaml: atlas.public_key: is empty; leave the key out or give a value",
        ],
    },
    Case {
        file: "bad_duration.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_duration.yaml: atlas.timeout: invalid duration \"thirty seconds\"; expected one like 500ms, 30s, 15m, 1h or 1h30m",
            "tests/testdata/config/bad_duration.yaml: poll_interval: invalid duration \"15 mins and change\"; expected one like 500ms, 30s, 15m, 1h or 1h30m",
        ],
    },
    Case {
        file: "duration_unknown_unit.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duration_unknown_unit.yaml: poll_interval: unknown unit \"mn\" in the duration \"15mn\"; use ms, s, m, h or d, like 500ms, 30s, 15m, 1h or 1h30m",
        ],
    },
    Case {
        file: "duration_without_unit.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duration_without_unit.yaml: atlas.timeout: the duration 30 has no unit; add one, for example \"30s\"",
            "tests/testdata/config/duration_without_unit.yaml: poll_interval: the duration \"900\" has no unit; add one, for example \"900s\"",
        ],
    },
    Case {
        file: "poll_interval_too_short.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/poll_interval_too_short.yaml: poll_interval: must be at least 1s, found 500ms",
        ],
    },
    Case {
        file: "timeout_zero.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/timeout_zero.yaml: atlas.timeout: must be greater than 0",
        ],
    },
    Case {
        file: "poll_deadline_zero.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/poll_deadline_zero.yaml: atlas.poll_deadline: must be greater than 0",
        ],
    },
    Case {
        file: "poll_deadline_over_interval.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/poll_deadline_over_interval.yaml: atlas.poll_deadline: must not be longer than poll_interval (1m), found 5m: a target still polling when the next cycle is due delays every other target",
        ],
    },
    Case {
        file: "rate_limit_bad.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/rate_limit_bad.yaml: atlas.rate_limit.capacity: must be at least 1, found 0",
            "tests/testdata/config/rate_limit_bad.yaml: atlas.rate_limit.refill_per_minte: unknown key \"refill_per_minte\"; did you mean \"refill_per_minute\"?",
        ],
    },
    Case {
        file: "bad_kind.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_kind.yaml: projects[0].clusters[0].kind: unknown kind \"serverless\": expected one of auto, flex, tenant, dedicated, legacy",
            "tests/testdata/config/bad_kind.yaml: projects[0].clusters[1].kind: unknown kind \"Flex\": expected one of auto, flex, tenant, dedicated, legacy; did you mean \"flex\"?",
        ],
    },
    Case {
        file: "bad_api_version.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_api_version.yaml: atlas.api_version: unknown API version \"v3\": expected \"v2\" or \"v1.0\"",
        ],
    },
    Case {
        file: "api_version_number.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/api_version_number.yaml: atlas.api_version: expected \"v2\" or \"v1.0\", found the number 1.0; did you mean \"v1.0\"?",
        ],
    },
    Case {
        file: "base_url_with_userinfo.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/base_url_with_userinfo.yaml: atlas.base_url: it must not carry a user name or password (set the credentials keys instead)",
        ],
    },
    Case {
        file: "base_url_with_query_and_fragment.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/base_url_with_query_and_fragment.yaml: atlas.base_url: it must not have a query (?...); it must not have a fragment (#...)",
        ],
    },
    Case {
        file: "base_url_bad_scheme.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/base_url_bad_scheme.yaml: atlas.base_url: its scheme must be http or https, not \"ftp\"",
        ],
    },
    Case {
        file: "base_url_relative.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/base_url_relative.yaml: atlas.base_url: not an absolute URL (relative URL without a base); expected one like https://cloud.mongodb.com",
        ],
    },
    Case {
        file: "max_concurrency_zero.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/max_concurrency_zero.yaml: atlas.max_concurrency: must be between 1 and 64, found 0",
        ],
    },
    Case {
        file: "max_concurrency_too_large.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/max_concurrency_too_large.yaml: atlas.max_concurrency: must be between 1 and 64, found 65",
        ],
    },
    Case {
        file: "max_listing_items_zero.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/max_listing_items_zero.yaml: atlas.max_listing_items: must be at least 1, found 0",
        ],
    },
    Case {
        file: "max_listing_items_quoted.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/max_listing_items_quoted.yaml: atlas.max_listing_items: expected a whole number at least 1, found a string; remove the quotes",
        ],
    },
    Case {
        file: "wrong_types.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/wrong_types.yaml: atlas.base_url: expected a URL string, found a list",
            "tests/testdata/config/wrong_types.yaml: atlas.timeout: expected a duration like 500ms, 30s, 15m, 1h or 1h30m, found a mapping",
            "tests/testdata/config/wrong_types.yaml: atlas.max_concurrency: expected a whole number between 1 and 64, found a string; remove the quotes",
            "tests/testdata/config/wrong_types.yaml: atlas.public_key: expected a string, found a number; put the value in quotes",
            "tests/testdata/config/wrong_types.yaml: poll_interval: expected a duration like 500ms, 30s, 15m, 1h or 1h30m, found a boolean",
            "tests/testdata/config/wrong_types.yaml: projects[0].name: expected a string, found a list",
            "tests/testdata/config/wrong_types.yaml: projects[0].clusters: expected a list of clusters, found a mapping",
            "tests/testdata/config/wrong_types.yaml: projects[1]: expected a mapping with id and clusters, found a string",
        ],
    },
    Case {
        file: "yaml_syntax_error.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/yaml_syntax_error.yaml: invalid YAML: did not find expected ',' or ']' at line 4 column 1, while parsing a flow sequence at line 3 column 15",
        ],
    },
    Case {
        file: "tab_indentation.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/tab_indentation.yaml: invalid YAML: found character that cannot start any token at line 2 column 1, while scanning for the next token (YAML does not allow tabs for indentation; use spaces)",
        ],
    },
    Case {
        file: "yaml_tag.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/yaml_tag.yaml: poll_interval: expected a duration like 500ms, 30s, 15m, 1h or 1h30m, found a tagged value (YAML tags like !foo are not supported)",
        ],
    },
    Case {
        file: "two_documents.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/two_documents.yaml: the file holds more than one YAML document (a second ---); expected one",
        ],
    },
    Case {
        file: "empty_file.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/empty_file.yaml: the file is empty; expected at least a projects list (see config.example.yaml)",
        ],
    },
    Case {
        file: "only_comments.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/only_comments.yaml: the file is empty; expected at least a projects list (see config.example.yaml)",
        ],
    },
    Case {
        file: "top_level_list.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/top_level_list.yaml: expected a mapping with the keys atlas, poll_interval and projects, found a list",
        ],
    },
    Case {
        file: "discovery_bad_keys.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_bad_keys.yaml: discovery.enable: unknown key \"enable\"; did you mean \"enabled\"?",
            "tests/testdata/config/discovery_bad_keys.yaml: discovery.organisations: unknown key \"organisations\"; did you mean \"organizations\"?",
            "tests/testdata/config/discovery_bad_keys.yaml: discovery.projects.exlude: unknown key \"exlude\"; did you mean \"exclude\"?",
            "tests/testdata/config/discovery_bad_keys.yaml: discovery.clusters: expected a mapping with include and exclude, found a list",
            "tests/testdata/config/discovery_bad_keys.yaml: discovery.refresh: unknown key \"refresh\"; expected one of enabled, organizations, projects, clusters, refresh_interval",
        ],
    },
    Case {
        file: "discovery_bad_regex.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_bad_regex.yaml: discovery.projects.include[1]: invalid regular expression \"(unclosed\": unclosed group",
            "tests/testdata/config/discovery_bad_regex.yaml: discovery.projects.exclude: expected a list of regular expressions, found a string; write [\"-scratch$\"]",
            "tests/testdata/config/discovery_bad_regex.yaml: discovery.clusters.exclude[0]: invalid regular expression \"[z-a]\": invalid character class range, the start must be <= the end",
            "tests/testdata/config/discovery_bad_regex.yaml: discovery.clusters.exclude[1]: expected a string (a regular expression), found a number; put the value in quotes",
        ],
    },
    Case {
        file: "discovery_bad_organization.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_bad_organization.yaml: discovery.organizations[0]: invalid organization id \"5b69d0349b15c62cdfc38b7\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78",
            "tests/testdata/config/discovery_bad_organization.yaml: discovery.organizations[1]: invalid organization id \"5B69D0349B15C62CDFC38B70\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78; write it in lowercase",
            "tests/testdata/config/discovery_bad_organization.yaml: discovery.organizations[3]: duplicate organization \"5b69d0349b15c62cdfc38b70\": already listed at discovery.organizations[2]",
        ],
    },
    Case {
        file: "discovery_organizations_as_string.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_organizations_as_string.yaml: discovery.enabled: expected true or false, found the string \"yes\"; write true or false, unquoted",
            "tests/testdata/config/discovery_organizations_as_string.yaml: discovery.organizations: expected a list of organization ids, found a string; write [5b69d0349b15c62cdfc38b70]",
        ],
    },
    Case {
        file: "discovery_refresh_too_short.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_refresh_too_short.yaml: discovery.refresh_interval: must be at least 1m, found 30s: every refresh reads every project's cluster listings and schedules",
        ],
    },
    Case {
        file: "discovery_disabled_needs_projects.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_disabled_needs_projects.yaml: projects: must list at least one project",
        ],
    },
    Case {
        file: "discovery_under_cloud_manager.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/discovery_under_cloud_manager.yaml: discovery.enabled: discovery covers Atlas only, not atlas.flavor cloud_manager: list the clusters under projects instead",
        ],
    },
    Case {
        file: "watch_bad_values.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/watch_bad_values.yaml: restores: expected true or false, found the string \"true\"; write true or false, unquoted",
            "tests/testdata/config/watch_bad_values.yaml: exports: expected true or false, found a number",
            "tests/testdata/config/watch_bad_values.yaml: projects[0].clusters[0].restores: expected true or false, found a string",
            "tests/testdata/config/watch_bad_values.yaml: projects[0].clusters[1].restore: unknown key \"restore\"; did you mean \"restores\"?",
        ],
    },
    Case {
        file: "watch_under_cloud_manager.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/watch_under_cloud_manager.yaml: restores: restore and export jobs are read from Atlas only, not atlas.flavor cloud_manager: remove the key or set it to false",
            "tests/testdata/config/watch_under_cloud_manager.yaml: projects[0].clusters[0].restores: restore and export jobs are read from Atlas only, not atlas.flavor cloud_manager: remove the key or set it to false",
        ],
    },
    Case {
        file: "bad_flavor.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/bad_flavor.yaml: atlas.flavor: unknown flavor \"CloudManager\": expected one of atlas, cloud_manager, ops_manager; did you mean \"cloud_manager\"?",
        ],
    },
    Case {
        file: "unknown_flavor.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/unknown_flavor.yaml: atlas.flavor: unknown flavor \"atlas_gov\": expected one of atlas, cloud_manager, ops_manager",
        ],
    },
    Case {
        file: "ops_manager_without_base_url.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/ops_manager_without_base_url.yaml: atlas: missing required key \"base_url\": atlas.flavor ops_manager has no default URL; set the address of your Ops Manager, like https://opsmanager.example.com:8080",
        ],
    },
    Case {
        file: "kind_under_ops_manager.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/kind_under_ops_manager.yaml: projects[0].clusters[0].kind: kind \"dedicated\" does not exist under atlas.flavor ops_manager: Cloud Manager and Ops Manager have the legacy snapshot API only; use legacy or auto",
            "tests/testdata/config/kind_under_ops_manager.yaml: projects[0].clusters[1].kind: kind \"flex\" does not exist under atlas.flavor ops_manager: Cloud Manager and Ops Manager have the legacy snapshot API only; use legacy or auto",
        ],
    },
    Case {
        file: "api_version_under_cloud_manager.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/api_version_under_cloud_manager.yaml: atlas.api_version: must be left out (or be \"v1.0\") under atlas.flavor cloud_manager: Cloud Manager and Ops Manager have one API, /api/public/v1.0",
        ],
    },
    Case {
        file: "cluster_id_under_atlas.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/cluster_id_under_atlas.yaml: projects[0].clusters[0].id: a cluster id is for atlas.flavor cloud_manager or ops_manager only: Atlas addresses a cluster by its name; remove the id",
        ],
    },
    Case {
        file: "cluster_without_name_or_id.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/cluster_without_name_or_id.yaml: projects[0].clusters[0]: missing required key \"name\" or \"id\": under atlas.flavor cloud_manager a cluster is named by its name, its id or both",
            "tests/testdata/config/cluster_without_name_or_id.yaml: projects[0].clusters[1].id: invalid cluster id \"not-an-id\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78",
        ],
    },
    Case {
        file: "duplicate_cluster_id.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/duplicate_cluster_id.yaml: projects[0].clusters[1].id: duplicate cluster id \"5b69d0349b15c62cdfc38b7a\": already listed at projects[0].clusters[0]",
            "tests/testdata/config/duplicate_cluster_id.yaml: projects[0].clusters[3].name: duplicate cluster \"5b69d0349b15c62cdfc38b7b\": already listed at projects[0].clusters[2]",
        ],
    },
    Case {
        file: "several_problems.yaml",
        env: NO_ENV,
        expected: &[
            "tests/testdata/config/several_problems.yaml: atlas.base_url: it must not have a query (?...)",
            "tests/testdata/config/several_problems.yaml: atlas.api_version: expected \"v2\" or \"v1.0\", found the number 2; did you mean \"v2\"?",
            "tests/testdata/config/several_problems.yaml: atlas.timeout: the duration 30 has no unit; add one, for example \"30s\"",
            "tests/testdata/config/several_problems.yaml: atlas.max_concurrency: must be between 1 and 64, found 100",
            "tests/testdata/config/several_problems.yaml: atlas: the API key pair is incomplete: the public key is set (from atlas.public_key) but the private key is missing; set atlas.private_key, atlas.private_key_file or the environment variable MONGODB_ATLAS_PRIVATE_API_KEY",
            "tests/testdata/config/several_problems.yaml: poll_intervall: unknown key \"poll_intervall\"; did you mean \"poll_interval\"?",
            "tests/testdata/config/several_problems.yaml: projects[0].clusters[0].kind: unknown kind \"flexible\": expected one of auto, flex, tenant, dedicated, legacy",
            "tests/testdata/config/several_problems.yaml: projects[0].clusters[1].name: duplicate cluster \"Cluster0\": already listed at projects[0].clusters[0]",
            "tests/testdata/config/several_problems.yaml: projects[1].id: invalid project id \"not-an-id\": expected 24 hex digits (0-9, a-f), like 5b69d0349b15c62cdfc38b78",
            "tests/testdata/config/several_problems.yaml: projects[1].clusters: must list at least one cluster",
            "tests/testdata/config/several_problems.yaml: projects[2].id: duplicate project \"5b69d0349b15c62cdfc38b78\": already listed at projects[0]; merge the two clusters lists into one entry",
            "tests/testdata/config/several_problems.yaml: projects[2].clusters[0].name: invalid cluster name \"M2_AWS\": expected ASCII letters, digits and hyphens, starting with a letter or digit",
        ],
    },
    Case {
        file: "shard_index_not_below_count.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/shard_index_not_below_count.yaml: shard.index: must be less than shard.count (3), found 3: the replicas are numbered from 0 to 2",
        ],
    },
    Case {
        file: "shard_bad_values.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/shard_bad_values.yaml: shard.index: must be from 0 to 1023, found -1",
            "tests/testdata/config/shard_bad_values.yaml: shard.count: must be between 1 and 1024, found 0",
            "tests/testdata/config/shard_bad_values.yaml: shard.replicas: unknown key \"replicas\"; expected one of index, count",
        ],
    },
    Case {
        file: "shard_wrong_types.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/shard_wrong_types.yaml: shard.index: expected a whole number from 0 to 1023, found a string; remove the quotes",
            "tests/testdata/config/shard_wrong_types.yaml: shard.count: expected a whole number between 1 and 1024, found 2.5",
        ],
    },
    Case {
        file: "shard_as_list.yaml",
        env: API_KEY_ENV,
        expected: &[
            "tests/testdata/config/shard_as_list.yaml: shard: expected a mapping with index and count, found a list",
            "tests/testdata/config/shard_as_list.yaml: poll_interval: the duration 5 has no unit; add one, for example \"5s\"",
        ],
    },
];

#[test]
fn every_bad_file_is_rejected_with_exactly_the_expected_messages() {
    let mut failures = Vec::new();
    for case in BAD_FILES {
        let expected = case.expected.join("\n");
        match load(case.file, case.env) {
            Ok(_) => failures.push(format!("{}: loaded, expected:\n{expected}", case.file)),
            Err(err) if err.render() != expected => failures.push(format!(
                "{}:\n  got:\n{}\n  expected:\n{expected}",
                case.file,
                err.render()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_bad_file_in_testdata_has_a_case_in_the_table() {
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(TESTDATA).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let is_bad_config = name.ends_with(".yaml") && !name.starts_with("good_");
        if is_bad_config && !BAD_FILES.iter().any(|case| case.file == name) {
            orphans.push(name);
        }
    }
    assert!(orphans.is_empty(), "no case for {orphans:?}");
}

#[test]
fn several_problems_are_all_reported_in_document_order() {
    let err = load("several_problems.yaml", NO_ENV).unwrap_err();
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "atlas.base_url",
            "atlas.api_version",
            "atlas.timeout",
            "atlas.max_concurrency",
            "atlas",
            "poll_intervall",
            "projects[0].clusters[0].kind",
            "projects[0].clusters[1].name",
            "projects[1].id",
            "projects[1].clusters",
            "projects[2].id",
            "projects[2].clusters[0].name",
        ]
    );
}

#[test]
fn an_unreadable_config_file_is_one_problem_carrying_the_os_error() {
    let err = load("does_not_exist.yaml", API_KEY_ENV).unwrap_err();
    assert_eq!(
        err.problems,
        [Problem {
            path: String::new(),
            message: "cannot read the config file: No such file or directory (os error 2)"
                .to_owned(),
        }]
    );
    assert_eq!(
        err.render(),
        "tests/testdata/config/does_not_exist.yaml: cannot read the config file: No such file or directory (os error 2)"
    );
}

#[test]
fn the_error_displays_as_its_rendering() {
    let err = load("empty_projects.yaml", API_KEY_ENV).unwrap_err();
    assert_eq!(err.to_string(), err.render());
}

#[test]
fn a_minimal_config_gets_every_default() {
    let config = load_ok("good_minimal.yaml", API_KEY_ENV);
    assert_eq!(config.atlas.base_url.as_str(), "https://cloud.mongodb.com/");
    assert_eq!(config.atlas.api_version, ApiVersion::V2);
    assert_eq!(config.atlas.timeout, Duration::from_secs(30));
    assert_eq!(config.atlas.max_concurrency, 8);
    assert_eq!(config.atlas.max_listing_items, 100_000);
    assert_eq!(config.atlas.poll_deadline, None);
    assert_eq!(
        config.poll_deadline(),
        Duration::from_secs(5 * 60),
        "5m, shorter than half of the 15m interval"
    );
    assert_eq!(config.atlas.rate_limit.capacity, 1200);
    assert_eq!(config.atlas.rate_limit.refill_per_minute, 500);
    assert_eq!(config.poll_interval, Duration::from_secs(15 * 60));
    assert_eq!(config.projects.len(), 1);
    let project = &config.projects[0];
    assert_eq!(project.id, "5b69d0349b15c62cdfc38b78");
    assert_eq!(project.name, None);
    assert_eq!(project.clusters.len(), 1);
    assert_eq!(project.clusters[0].name, "Cluster0");
    assert_eq!(project.clusters[0].kind, Kind::Auto);
}

#[test]
fn a_config_without_a_discovery_section_or_flavor_gets_their_defaults() {
    let config = load_ok("good_minimal.yaml", API_KEY_ENV);
    assert_eq!(config.atlas.flavor, Flavor::Atlas);
    assert_eq!(config.discovery, DiscoveryConfig::default());
    assert!(!config.discovery.enabled);
    assert_eq!(
        config.discovery.refresh_interval,
        Duration::from_secs(60 * 60)
    );
    assert!(config.discovery.organizations.is_empty());
    assert!(
        config
            .discovery
            .projects
            .admits(&["any", "5b69d0349b15c62cdfc38b78"])
    );
    assert_eq!(config.projects[0].clusters[0].id, None);
    assert_eq!(config.targets()[0].cluster_id, None);
}

#[test]
fn without_the_opt_in_keys_only_flex_restore_jobs_are_read() {
    let config = load_ok("good_minimal.yaml", API_KEY_ENV);
    assert_eq!(config.watch, WatchConfig::default());
    let watch = config.watches("5b69d0349b15c62cdfc38b78", "Cluster0");
    assert_eq!(
        watch,
        Watch {
            restores: false,
            exports: false,
            flex_restores: true,
        }
    );
    assert!(watch.restores_for(Kind::Flex), "Project Read Only suffices");
    assert!(
        !watch.restores_for(Kind::Dedicated),
        "needs Project Backup Manager"
    );
    assert!(!watch.exports_for(Kind::Dedicated));
}

#[test]
fn a_clusters_own_restores_wins_over_the_top_level_one_and_discovered_clusters_get_the_top_level_one()
 {
    let config = load_ok("good_watch.yaml", API_KEY_ENV);
    assert!(config.watch.restores);
    assert!(config.watch.exports);
    let first = "5b69d0349b15c62cdfc38b78";
    let second = "6c70e1450c26d73deed49c89";
    let watch = |project, cluster| {
        let w = config.watches(project, cluster);
        (w.restores, w.exports, w.flex_restores)
    };
    assert_eq!(watch(first, "Cluster0"), (true, true, true), "top level");
    assert_eq!(
        watch(first, "scratch"),
        (false, true, false),
        "its own false"
    );
    assert_eq!(
        watch(first, "orders"),
        (false, true, false),
        "its own false"
    );
    assert_eq!(
        watch(first, "reports"),
        (true, true, true),
        "empty: top level"
    );
    assert_eq!(
        watch(second, "Cluster0"),
        (true, true, true),
        "same name, other project: its own"
    );
    assert_eq!(
        watch(second, "discovered"),
        (true, true, true),
        "not listed: top level"
    );
    assert_eq!(
        watch("7d81f2561d37e84eef05ad9a", "Cluster0"),
        (true, true, true),
        "project not listed: top level"
    );
    let orders = config.watches(first, "orders");
    assert!(!orders.restores_for(Kind::Flex));
    assert!(orders.exports_for(Kind::Dedicated));
    assert_eq!(
        config.projects[0].clusters.len(),
        4,
        "the key adds no cluster"
    );
}

#[test]
fn discovery_switched_off_is_the_same_as_no_discovery_section() {
    let off = load_ok("good_discovery_disabled.yaml", API_KEY_ENV);
    let absent = load_ok("good_minimal.yaml", API_KEY_ENV);
    assert_eq!(off, absent);
}

#[test]
fn discovery_alone_needs_no_listed_projects() {
    let config = load_ok("good_discovery_only.yaml", API_KEY_ENV);
    assert!(config.projects.is_empty());
    assert!(config.targets().is_empty());
    let discovery = &config.discovery;
    assert!(discovery.enabled);
    assert_eq!(
        discovery.organizations,
        ["5b69d0349b15c62cdfc38b70", "5b69d0349b15c62cdfc38b71"]
    );
    assert_eq!(discovery.refresh_interval, Duration::from_secs(30 * 60));
    // Patterns match anywhere unless anchored; (?i) makes one case-insensitive.
    assert!(
        discovery
            .projects
            .admits(&["prod-eu", "5b69d0349b15c62cdfc38b78"])
    );
    assert!(
        !discovery
            .projects
            .admits(&["eu-prod-1", "5b69d0349b15c62cdfc38b78"])
    );
    assert!(
        !discovery
            .projects
            .admits(&["prod-Sandbox", "5b69d0349b15c62cdfc38b78"])
    );
    assert!(discovery.clusters.admits(&["orders"]));
    assert!(!discovery.clusters.admits(&["orders-scratch"]));
    assert!(discovery.clusters.admits(&["orders-scratch-1"]));

    let empty = "discovery:\n  enabled: true\nprojects: []\n";
    let config = Config::parse_str(empty, "inline.yaml", &env(API_KEY_ENV)).unwrap();
    assert!(config.projects.is_empty());
}

#[test]
fn a_long_bad_pattern_is_quoted_cut_short() {
    let pattern = format!("({}", "a".repeat(5000));
    let text = format!("discovery:\n  enabled: true\n  clusters:\n    include: [{pattern:?}]\n");
    let err = Config::parse_str(&text, "inline.yaml", &env(API_KEY_ENV)).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let problem = &err.problems[0];
    assert_eq!(problem.path, "discovery.clusters.include[0]");
    assert_eq!(
        problem.message,
        format!(
            "invalid regular expression \"({}...\": unclosed group",
            "a".repeat(63)
        )
    );
}

#[test]
fn discovery_may_refresh_more_often_than_the_poll_interval() {
    let text = "poll_interval: 1h\ndiscovery:\n  enabled: true\n  refresh_interval: 1m\n";
    let config = Config::parse_str(text, "inline.yaml", &env(API_KEY_ENV)).unwrap();
    assert_eq!(config.discovery.refresh_interval, Duration::from_secs(60));
    assert_eq!(config.poll_interval, Duration::from_secs(60 * 60));
}

#[test]
fn a_cloud_manager_cluster_is_named_by_name_by_id_or_both() {
    let config = load_ok("good_cloud_manager.yaml", API_KEY_ENV);
    assert_eq!(config.atlas.flavor, Flavor::CloudManager);
    assert_eq!(
        config.atlas.base_url.as_str(),
        "https://cloud.mongodb.com/",
        "Cloud Manager has the Atlas host as its default"
    );
    assert_eq!(
        config.atlas.api_version,
        ApiVersion::V1_0,
        "the public API is v1.0 by definition"
    );
    let targets: Vec<(String, Option<String>, Kind)> = config
        .targets()
        .into_iter()
        .map(|t| {
            (
                t.cluster_name.to_string(),
                t.cluster_id.map(|id| id.to_string()),
                t.kind,
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("Cluster0".to_owned(), None, Kind::Legacy),
            (
                "proton".to_owned(),
                Some("5b69d0349b15c62cdfc38b7a".to_owned()),
                Kind::Legacy
            ),
            (
                "5b69d0349b15c62cdfc38b7b".to_owned(),
                Some("5b69d0349b15c62cdfc38b7b".to_owned()),
                Kind::Legacy
            ),
        ],
        "auto means legacy there; a cluster named by id alone carries the id as its name"
    );
}

#[test]
fn ops_manager_takes_its_own_base_url_and_accepts_api_version_v1_0() {
    let config = load_ok("good_ops_manager.yaml", API_KEY_ENV);
    assert_eq!(config.atlas.flavor, Flavor::OpsManager);
    assert_eq!(
        config.atlas.base_url.as_str(),
        "https://opsmanager.example.com:8080/"
    );
    assert_eq!(config.atlas.api_version, ApiVersion::V1_0);
    let target = &config.targets()[0];
    assert_eq!(&*target.cluster_name, "5b69d0349b15c62cdfc38b7a");
    assert_eq!(
        target.cluster_id.as_deref(),
        Some("5b69d0349b15c62cdfc38b7a")
    );
    assert_eq!(target.kind, Kind::Legacy);
}

#[test]
fn without_a_poll_deadline_a_short_interval_gets_half_of_it() {
    let mut config = load_ok("good_minimal.yaml", API_KEY_ENV);
    config.poll_interval = Duration::from_secs(60);
    assert_eq!(config.poll_deadline(), Duration::from_secs(30));
}

#[test]
fn the_shard_section_is_read_and_the_listed_targets_are_only_the_shards_own() {
    let config = load_ok("good_shard.yaml", API_KEY_ENV);
    assert_eq!((config.shard.index(), config.shard.count()), (2, 3));
    let names: Vec<String> = config
        .targets()
        .iter()
        .map(|t| t.cluster_name.to_string())
        .collect();
    assert!(!names.is_empty() && names.len() < 6, "{names:?}");
    for t in config.targets() {
        assert_eq!(
            atlas_snapshot_exporter::shard::owner(&t.project_id, &t.cluster_name, 3),
            2
        );
    }
    let minimal = load_ok("good_minimal.yaml", API_KEY_ENV);
    assert!(
        minimal.shard.is_single(),
        "no shard section: the only shard"
    );
}

#[test]
fn every_key_set_in_the_file_is_read() {
    let config = load_ok("good_full.yaml", NO_ENV);
    assert_eq!(
        config.atlas.base_url.as_str(),
        "http://127.0.0.1:8080/mms",
        "a path prefix is kept without its trailing slash"
    );
    assert_eq!(config.atlas.api_version, ApiVersion::V1_0);
    assert_eq!(config.atlas.timeout, Duration::from_secs(90));
    assert_eq!(config.atlas.max_concurrency, 64);
    assert_eq!(config.atlas.max_listing_items, 5000);
    assert_eq!(config.atlas.poll_deadline, Some(Duration::from_millis(800)));
    assert_eq!(config.poll_deadline(), Duration::from_millis(800));
    assert_eq!(config.atlas.rate_limit.capacity, 100);
    assert_eq!(config.atlas.rate_limit.refill_per_minute, 60);
    assert_eq!(config.poll_interval, Duration::from_secs(1));
    match &config.atlas.credentials {
        Credentials::ApiKey {
            public_key,
            private_key,
        } => {
            assert_eq!(public_key, "abcdefgh");
            assert_eq!(private_key.expose(), "not-a-real-key");
        }
        other => panic!("expected an API key pair, got {other:?}"),
    }
    let targets: Vec<(String, Option<String>, String, Kind)> = config
        .targets()
        .into_iter()
        .map(|t| {
            (
                t.project_id.to_string(),
                t.project_name.map(|n| n.to_string()),
                t.cluster_name.to_string(),
                t.kind,
            )
        })
        .collect();
    let production = |cluster: &str, kind| {
        (
            "5b69d0349b15c62cdfc38b78".to_owned(),
            Some("production".to_owned()),
            cluster.to_owned(),
            kind,
        )
    };
    assert_eq!(
        targets,
        [
            production("Cluster0", Kind::Flex),
            production("big-dedicated-1", Kind::Dedicated),
            production("M2AWS", Kind::Tenant),
            production("Old0", Kind::Legacy),
            production("Whatever", Kind::Auto),
            production("Empty", Kind::Auto),
            (
                "6c70e1450c26d73deed49c89".to_owned(),
                None,
                "Cluster0".to_owned(),
                Kind::Auto
            ),
        ]
    );
}

#[test]
fn an_api_key_pair_can_come_from_the_environment_alone() {
    let config = load_ok("good_minimal.yaml", API_KEY_ENV);
    match config.atlas.credentials {
        Credentials::ApiKey {
            public_key,
            private_key,
        } => {
            assert_eq!(public_key, "envpublic");
            assert_eq!(private_key.expose(), "envprivate");
        }
        other => panic!("expected an API key pair, got {other:?}"),
    }
}

#[test]
fn a_service_account_can_come_from_the_environment_alone() {
    let config = load_ok("good_minimal.yaml", SERVICE_ACCOUNT_ENV);
    match config.atlas.credentials {
        Credentials::ServiceAccount {
            client_id,
            client_secret,
        } => {
            assert_eq!(client_id, "mdb_sa_id_env");
            assert_eq!(client_secret.expose(), "mdb_sa_sk_env");
        }
        other => panic!("expected a service account, got {other:?}"),
    }
}

#[test]
fn a_service_account_config_reads_its_secret_file_relative_to_the_config_file() {
    let config = load_ok("good_service_account.yaml", NO_ENV);
    match config.atlas.credentials {
        Credentials::ServiceAccount {
            client_id,
            client_secret,
        } => {
            assert_eq!(client_id, "mdb_sa_id_1234567890abcdef12345678");
            assert_eq!(client_secret.expose(), "mdb_sa_sk_testsecret");
        }
        other => panic!("expected a service account, got {other:?}"),
    }
}

/// A file holding `content`, and config text whose `atlas` section names it under `key`.
fn config_with_secret_file(
    content: &str,
    atlas: &str,
    key: &str,
) -> (tempfile::NamedTempFile, String) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    let path = file.path().display().to_string();
    let text = format!(
        "atlas:\n{atlas}  {key}: {path:?}\nprojects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: Cluster0\n"
    );
    (file, text)
}

#[test]
fn a_private_key_file_is_read_with_its_surrounding_whitespace_trimmed() {
    let (_file, text) = config_with_secret_file(
        "  file-private-key \n",
        "  public_key: abcdefgh\n",
        "private_key_file",
    );
    let config = Config::parse_str(&text, "inline.yaml", &env(NO_ENV)).unwrap();
    assert_eq!(
        config.atlas.credentials,
        Credentials::ApiKey {
            public_key: "abcdefgh".to_owned(),
            private_key: atlas_snapshot_exporter::secret::Secret::new("file-private-key"),
        }
    );
}

#[test]
fn a_client_secret_file_is_read_with_its_trailing_newline_trimmed() {
    let (_file, text) = config_with_secret_file(
        "mdb_sa_sk_fromfile\n",
        "  client_id: mdb_sa_id_file\n",
        "client_secret_file",
    );
    let config = Config::parse_str(&text, "inline.yaml", &env(NO_ENV)).unwrap();
    match config.atlas.credentials {
        Credentials::ServiceAccount {
            client_id,
            client_secret,
        } => {
            assert_eq!(client_id, "mdb_sa_id_file");
            assert_eq!(client_secret.expose(), "mdb_sa_sk_fromfile");
        }
        other => panic!("expected a service account, got {other:?}"),
    }
}

#[test]
fn a_value_in_the_file_beats_the_environment_value_by_value() {
    // public_key inline and private_key_file beat both environment variables.
    let (_file, text) = config_with_secret_file(
        "file-private-key\n",
        "  public_key: filepublic\n",
        "private_key_file",
    );
    let config = Config::parse_str(&text, "inline.yaml", &env(API_KEY_ENV)).unwrap();
    match &config.atlas.credentials {
        Credentials::ApiKey {
            public_key,
            private_key,
        } => {
            assert_eq!(public_key, "filepublic");
            assert_eq!(private_key.expose(), "file-private-key");
        }
        other => panic!("expected an API key pair, got {other:?}"),
    }

    // Only the public key in the file: the private key still comes from the environment.
    let config = load_ok("half_api_key.yaml", API_KEY_ENV);
    match &config.atlas.credentials {
        Credentials::ApiKey {
            public_key,
            private_key,
        } => {
            assert_eq!(public_key, "abcdefgh");
            assert_eq!(private_key.expose(), "envprivate");
        }
        other => panic!("expected an API key pair, got {other:?}"),
    }
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let vars = [
        (ENV_PUBLIC_API_KEY, "envpublic"),
        (ENV_PRIVATE_API_KEY, "  "),
    ];
    let err = load("good_minimal.yaml", &vars).unwrap_err();
    assert_eq!(
        err.render(),
        "tests/testdata/config/good_minimal.yaml: atlas: the API key pair is incomplete: the public key is set (from the environment variable MONGODB_ATLAS_PUBLIC_API_KEY) but the private key is missing; set atlas.private_key, atlas.private_key_file or the environment variable MONGODB_ATLAS_PRIVATE_API_KEY"
    );
}

#[test]
fn the_example_config_loads_with_credentials_from_the_environment() {
    let config = Config::load_with_env(Path::new("config.example.yaml"), &env(API_KEY_ENV))
        .unwrap_or_else(|err| panic!("{}", err.render()));
    assert_eq!(config.atlas.base_url.as_str(), "https://cloud.mongodb.com/");
    assert_eq!(config.atlas.flavor, Flavor::Atlas);
    assert_eq!(config.poll_interval, Duration::from_secs(15 * 60));
    assert_eq!(
        config.discovery,
        DiscoveryConfig::default(),
        "every discovery key is shown with its default"
    );
    assert_eq!(
        config.watch,
        WatchConfig::default(),
        "restores and exports are shown with their defaults"
    );
    let kinds: Vec<(String, Kind)> = config
        .targets()
        .into_iter()
        .map(|t| (t.cluster_name.to_string(), t.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("orders".to_owned(), Kind::Flex),
            ("Cluster0".to_owned(), Kind::Auto),
            ("M2AWS".to_owned(), Kind::Tenant),
        ]
    );
}

#[test]
fn parse_str_reports_problems_under_the_name_it_is_given() {
    let err = Config::parse_str("projects: []\n", "<stdin>", &env(API_KEY_ENV)).unwrap_err();
    assert_eq!(
        err.render(),
        "<stdin>: projects: must list at least one project"
    );
}

#[test]
fn an_empty_or_mistyped_project_id_or_cluster_name_says_what_belongs_there() {
    let text = "projects:\n  - id:\n    clusters:\n      - name:\n  - id: [5b69d0349b15c62cdfc38b78]\n    clusters:\n      - name: [Cluster0]\n";
    let err = Config::parse_str(text, "inline.yaml", &env(API_KEY_ENV)).unwrap_err();
    assert_eq!(
        err.render(),
        [
            "inline.yaml: projects[0].id: is empty; expected the project id (24 hex digits)",
            "inline.yaml: projects[0].clusters[0].name: is empty; expected the cluster name",
            "inline.yaml: projects[1].id: expected a string of 24 hex digits, found a list",
            "inline.yaml: projects[1].clusters[0].name: expected a string, found a list",
        ]
        .join("\n")
    );
}

#[test]
fn from_env_gives_the_defaults_and_the_credentials_of_the_environment() {
    let atlas = AtlasConfig::from_env(&env(SERVICE_ACCOUNT_ENV)).unwrap();
    assert_eq!(atlas.base_url.as_str(), "https://cloud.mongodb.com/");
    assert_eq!(atlas.api_version, ApiVersion::V2);
    assert_eq!(atlas.timeout, Duration::from_secs(30));
    assert_eq!(atlas.max_concurrency, 8);
    assert!(matches!(
        atlas.credentials,
        Credentials::ServiceAccount { ref client_id, .. } if client_id == "mdb_sa_id_env"
    ));
}

#[test]
fn from_env_without_credentials_names_the_variables_to_set() {
    assert_eq!(
        render_err(AtlasConfig::from_env(&env(NO_ENV))),
        "environment: no credentials: set the environment variables MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY (an API key pair) or MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET (a service account), or use a config file"
    );
}

#[test]
fn from_env_with_half_a_pair_says_which_variable_is_missing() {
    assert_eq!(
        render_err(AtlasConfig::from_env(&env(&[(ENV_CLIENT_SECRET, "x")]))),
        "environment: the service account is incomplete: the client secret is set (from the environment variable MONGODB_ATLAS_CLIENT_SECRET) but the client id is missing; set the environment variable MONGODB_ATLAS_CLIENT_ID"
    );
}

#[test]
fn from_env_with_both_methods_asks_to_choose_one() {
    let both: Vec<(&str, &str)> = API_KEY_ENV
        .iter()
        .chain(SERVICE_ACCOUNT_ENV)
        .copied()
        .collect();
    assert_eq!(
        render_err(AtlasConfig::from_env(&env(&both))),
        "environment: both an API key pair (from the environment variable MONGODB_ATLAS_PUBLIC_API_KEY and the environment variable MONGODB_ATLAS_PRIVATE_API_KEY) and a service account (from the environment variable MONGODB_ATLAS_CLIENT_ID and the environment variable MONGODB_ATLAS_CLIENT_SECRET) are set; choose one and remove the other"
    );
}

const SECRET: &str = "Zq8-SECRET-must-never-leak-7f3a";

#[test]
fn no_error_message_ever_quotes_a_credential() {
    let secret_file = {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{SECRET}").unwrap();
        file
    };
    let secret_path = format!("{:?}", secret_file.path().display().to_string());
    let projects =
        "projects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: Cluster0\n";
    let texts = [
        // Each credential key holding the secret, with half a pair.
        format!("atlas:\n  private_key: {SECRET}\n{projects}"),
        format!("atlas:\n  public_key: {SECRET}\n{projects}"),
        format!("atlas:\n  client_id: {SECRET}\n{projects}"),
        format!("atlas:\n  client_secret: {SECRET}\n{projects}"),
        format!("atlas:\n  private_key_file: {secret_path}\n{projects}"),
        format!("atlas:\n  client_secret_file: {secret_path}\n{projects}"),
        // Both methods at once; a value and its file together.
        format!(
            "atlas:\n  public_key: {SECRET}\n  private_key: {SECRET}\n  client_id: {SECRET}\n  client_secret: {SECRET}\n{projects}"
        ),
        format!(
            "atlas:\n  public_key: a\n  private_key: {SECRET}\n  private_key_file: {secret_path}\n{projects}"
        ),
        // The secret where a key, a list or a tagged number was expected.
        format!("atlas:\n  privatekey: {SECRET}\n{projects}"),
        format!("atlas:\n  private_key: [{SECRET}]\n{projects}"),
        format!("atlas:\n  private_key: !!int {SECRET}\n{projects}"),
        format!("atlas:\n  private_key: !secret {SECRET}\n{projects}"),
        format!("atlas:\n  private_key: {SECRET}\n  private_key: {SECRET}\n{projects}"),
        // The secret in the URL, well-formed or not.
        format!("atlas:\n  base_url: https://user:{SECRET}@cloud.mongodb.com\n{projects}"),
        format!("atlas:\n  base_url: https://user:{SECRET}@cloud.mongodb.com:99999\n{projects}"),
        format!("atlas:\n  base_url: ftp://user:{SECRET}@cloud.mongodb.com?{SECRET}\n{projects}"),
        // The secret breaking the YAML.
        format!("atlas:\n  private_key: \"{SECRET}\n{projects}"),
        format!("atlas:\n  private_key: {SECRET}: x\n{projects}"),
    ];
    let environments: [&[(&str, &str)]; 4] = [
        NO_ENV,
        &[(ENV_PRIVATE_API_KEY, SECRET)],
        &[(ENV_CLIENT_SECRET, SECRET), (ENV_PUBLIC_API_KEY, SECRET)],
        &[
            (ENV_PUBLIC_API_KEY, SECRET),
            (ENV_PRIVATE_API_KEY, SECRET),
            (ENV_CLIENT_ID, SECRET),
            (ENV_CLIENT_SECRET, SECRET),
        ],
    ];
    let mut rejected = 0;
    for text in &texts {
        for vars in environments {
            if let Err(err) = Config::parse_str(text, "secret.yaml", &env(vars)) {
                rejected += 1;
                let rendered = err.render();
                assert!(!rendered.contains(SECRET), "{text}\nleaks:\n{rendered}");
                assert!(
                    !format!("{err:?}").contains(SECRET),
                    "{text}\nleaks in Debug"
                );
            }
        }
    }
    for vars in environments {
        if let Err(err) = AtlasConfig::from_env(&env(vars)) {
            rejected += 1;
            assert!(
                !err.render().contains(SECRET),
                "from_env leaks:\n{}",
                err.render()
            );
        }
    }
    assert!(
        rejected > texts.len(),
        "most combinations should be rejected"
    );
}

#[test]
fn a_loaded_config_never_shows_the_private_key_in_debug_output() {
    let text = format!(
        "atlas:\n  public_key: abcdefgh\n  private_key: {SECRET}\nprojects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: Cluster0\n"
    );
    let config = Config::parse_str(&text, "secret.yaml", &env(NO_ENV)).unwrap();
    assert!(!format!("{config:?}").contains(SECRET));
}

#[test]
fn a_config_file_over_1_mib_is_refused_with_its_size_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    // 200 MB, sparse: the file system knows its size, and nothing is read to learn it.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(200 * 1000 * 1000)
        .unwrap();
    let err = Config::load_with_env(&path, &env(API_KEY_ENV)).unwrap_err();
    assert_eq!(
        err.render(),
        format!(
            "{}: the file is 200000000 bytes; the limit is 1 MiB",
            path.display()
        )
    );

    // One byte over the limit, made of valid YAML comments, is refused too; at the limit it
    // is read (and found to hold no config).
    let mut text = vec![b'#'; 1024 * 1024 + 1];
    text[1024 * 1024] = b'\n';
    std::fs::write(&path, &text).unwrap();
    let err = Config::load_with_env(&path, &env(API_KEY_ENV)).unwrap_err();
    assert_eq!(
        err.render(),
        format!(
            "{}: the file is 1048577 bytes; the limit is 1 MiB",
            path.display()
        )
    );
    text.truncate(1024 * 1024);
    std::fs::write(&path, &text).unwrap();
    let err = Config::load_with_env(&path, &env(API_KEY_ENV)).unwrap_err();
    assert!(!err.render().contains("the limit is"), "{err}");
}

#[test]
fn an_endless_credential_file_is_refused_after_1_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "atlas:\n  public_key: abcdefgh\n  private_key_file: /dev/zero\nprojects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: Cluster0\n",
    )
    .unwrap();
    let err = Config::load_with_env(&path, &env(&[])).unwrap_err();
    assert_eq!(
        err.render(),
        format!(
            "{}: atlas.private_key_file: cannot read /dev/zero: the file is more than 1048576 bytes; the limit is 1 MiB",
            path.display()
        )
    );
}
