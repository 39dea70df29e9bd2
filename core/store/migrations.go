package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations is the schema, one change per entry, in order; entry i brings the database
// to version i+1. Never edit an entry that has shipped: append a new one. Each runs in
// its own transaction with the schema_version bump, so a crash leaves a whole version.
// DDL is written once with two tokens the dialect fills in: {{id}} (auto-increment
// primary key) and {{time}} (timestamp type).
var migrations = []string{
	// 1: users (the admin is created by the service at first start)
	`CREATE TABLE users (
		id {{id}},
		login TEXT NOT NULL CONSTRAINT users_login_key UNIQUE,
		password_hash TEXT NOT NULL,
		admin BOOLEAN NOT NULL DEFAULT FALSE,
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	)`,
	// 2: smart proxies and the features discovered on them (§6.3)
	`CREATE TABLE smart_proxies (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT smart_proxies_name_key UNIQUE,
		url TEXT NOT NULL CONSTRAINT smart_proxies_url_key UNIQUE,
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE TABLE features (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT features_name_key UNIQUE
	);
	CREATE TABLE proxy_features (
		smart_proxy_id BIGINT NOT NULL REFERENCES smart_proxies(id) ON DELETE CASCADE,
		feature_id BIGINT NOT NULL REFERENCES features(id),
		capabilities TEXT NOT NULL DEFAULT '[]',
		settings TEXT NOT NULL DEFAULT '{}',
		PRIMARY KEY (smart_proxy_id, feature_id)
	)`,
	// 3: domains
	`CREATE TABLE domains (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT domains_name_key UNIQUE,
		fullname TEXT NOT NULL DEFAULT '',
		dns_id BIGINT REFERENCES smart_proxies(id),
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	)`,
	// 4: subnets and the domains they serve
	`CREATE TABLE subnets (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT subnets_name_key UNIQUE,
		network TEXT NOT NULL,
		mask TEXT NOT NULL,
		gateway TEXT NOT NULL DEFAULT '',
		dns_primary TEXT NOT NULL DEFAULT '',
		dns_secondary TEXT NOT NULL DEFAULT '',
		from_ip TEXT NOT NULL DEFAULT '',
		to_ip TEXT NOT NULL DEFAULT '',
		boot_mode TEXT NOT NULL DEFAULT 'DHCP',
		ipam TEXT NOT NULL DEFAULT 'DHCP',
		dhcp_id BIGINT REFERENCES smart_proxies(id),
		tftp_id BIGINT REFERENCES smart_proxies(id),
		dns_id BIGINT REFERENCES smart_proxies(id),
		template_id BIGINT REFERENCES smart_proxies(id),
		httpboot_id BIGINT REFERENCES smart_proxies(id),
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE TABLE subnet_domains (
		subnet_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
		domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
		PRIMARY KEY (subnet_id, domain_id)
	)`,
	// 5: architectures
	`CREATE TABLE architectures (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT architectures_name_key UNIQUE,
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	)`,
	// 6: operating systems and their architectures
	`CREATE TABLE operatingsystems (
		id {{id}},
		name TEXT NOT NULL,
		major TEXT NOT NULL,
		minor TEXT NOT NULL DEFAULT '',
		family TEXT NOT NULL DEFAULT '',
		release_name TEXT NOT NULL DEFAULT '',
		description TEXT NOT NULL DEFAULT '',
		pxe_loaders TEXT NOT NULL DEFAULT '[]',
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL,
		CONSTRAINT operatingsystems_name_key UNIQUE (name, major, minor)
	);
	CREATE TABLE operatingsystem_architectures (
		operatingsystem_id BIGINT NOT NULL REFERENCES operatingsystems(id) ON DELETE CASCADE,
		architecture_id BIGINT NOT NULL REFERENCES architectures(id) ON DELETE CASCADE,
		PRIMARY KEY (operatingsystem_id, architecture_id)
	)`,
	// 7: installation media and the operating systems they serve
	`CREATE TABLE media (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT media_name_key UNIQUE,
		path TEXT NOT NULL,
		os_family TEXT NOT NULL DEFAULT '',
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE TABLE media_operatingsystems (
		medium_id BIGINT NOT NULL REFERENCES media(id) ON DELETE CASCADE,
		operatingsystem_id BIGINT NOT NULL REFERENCES operatingsystems(id) ON DELETE CASCADE,
		PRIMARY KEY (medium_id, operatingsystem_id)
	)`,
	// 8: hosts, their parameters and the infrastructure facet (foreman-clients.md §3)
	`CREATE TABLE hosts (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT hosts_name_key UNIQUE,
		certname TEXT NOT NULL DEFAULT '',
		domain_id BIGINT REFERENCES domains(id),
		subnet_id BIGINT REFERENCES subnets(id),
		mac TEXT NOT NULL DEFAULT '',
		ip TEXT NOT NULL DEFAULT '',
		architecture_id BIGINT REFERENCES architectures(id),
		operatingsystem_id BIGINT REFERENCES operatingsystems(id),
		medium_id BIGINT REFERENCES media(id),
		pxe_loader TEXT NOT NULL DEFAULT '',
		build BOOLEAN NOT NULL DEFAULT FALSE,
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE INDEX hosts_mac_index ON hosts (mac);
	CREATE INDEX hosts_ip_index ON hosts (ip);
	CREATE INDEX hosts_certname_index ON hosts (certname);
	CREATE TABLE host_parameters (
		id {{id}},
		host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		value TEXT NOT NULL DEFAULT '',
		CONSTRAINT host_parameters_name_key UNIQUE (host_id, name)
	);
	CREATE TABLE host_infrastructure_facets (
		host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
		foreman_instance BOOLEAN NOT NULL DEFAULT FALSE,
		smart_proxy_id BIGINT REFERENCES smart_proxies(id)
	)`,
	// 9: the last facts each host uploaded, as the JSON object received
	`CREATE TABLE host_facts (
		host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
		facts TEXT NOT NULL,
		uploaded_at {{time}} NOT NULL
	)`,
	// issue 12, provisioning (core/provision): build tokens, and how each host's last
	// build ended (the installer's log when it failed, when it finished)
	`CREATE TABLE build_tokens (
		host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
		value TEXT NOT NULL CONSTRAINT build_tokens_value_key UNIQUE,
		expires_at {{time}} NOT NULL
	);
	CREATE TABLE host_builds (
		host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
		build_errors TEXT NOT NULL DEFAULT '',
		installed_at {{time}},
		updated_at {{time}} NOT NULL
	)`,
	// issue 12 (puppet): parameters at every level a host inherits from (global, domain,
	// subnet, operating system; host_parameters is the last level)
	`CREATE TABLE common_parameters (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT common_parameters_name_key UNIQUE,
		value TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE domain_parameters (
		id {{id}},
		domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		value TEXT NOT NULL DEFAULT '',
		CONSTRAINT domain_parameters_name_key UNIQUE (domain_id, name)
	);
	CREATE TABLE subnet_parameters (
		id {{id}},
		subnet_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		value TEXT NOT NULL DEFAULT '',
		CONSTRAINT subnet_parameters_name_key UNIQUE (subnet_id, name)
	);
	CREATE TABLE operatingsystem_parameters (
		id {{id}},
		operatingsystem_id BIGINT NOT NULL REFERENCES operatingsystems(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		value TEXT NOT NULL DEFAULT '',
		CONSTRAINT operatingsystem_parameters_name_key UNIQUE (operatingsystem_id, name)
	)`,
	// issue 12 (puppet): Puppet classes, the classes of each host (with class parameter
	// values as a JSON object) and the host's Puppet environment
	`CREATE TABLE puppetclasses (
		id {{id}},
		name TEXT NOT NULL CONSTRAINT puppetclasses_name_key UNIQUE,
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE TABLE host_puppetclasses (
		host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		puppetclass_id BIGINT NOT NULL REFERENCES puppetclasses(id),
		parameters TEXT NOT NULL DEFAULT '{}',
		PRIMARY KEY (host_id, puppetclass_id)
	);
	CREATE TABLE host_puppet_facets (
		host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
		environment TEXT NOT NULL DEFAULT ''
	)`,
	// issue 12 (puppet): config reports with Foreman's six status counters
	`CREATE TABLE config_reports (
		id {{id}},
		host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		reported_at {{time}} NOT NULL,
		applied INTEGER NOT NULL DEFAULT 0,
		restarted INTEGER NOT NULL DEFAULT 0,
		failed INTEGER NOT NULL DEFAULT 0,
		failed_restarts INTEGER NOT NULL DEFAULT 0,
		skipped INTEGER NOT NULL DEFAULT 0,
		pending INTEGER NOT NULL DEFAULT 0,
		origin TEXT NOT NULL DEFAULT '',
		metrics TEXT NOT NULL DEFAULT '{}',
		logs TEXT NOT NULL DEFAULT '[]',
		created_at {{time}} NOT NULL,
		updated_at {{time}} NOT NULL
	);
	CREATE INDEX config_reports_host_index ON config_reports (host_id, reported_at);
	CREATE INDEX config_reports_reported_at_index ON config_reports (reported_at)`,
	// issue 12, orchestration: the task list of the last orchestration run per host
	// name (kept for failed creates too, whose host row never existed)
	`CREATE TABLE host_tasks (
		host_name TEXT PRIMARY KEY,
		operation TEXT NOT NULL,
		tasks TEXT NOT NULL,
		updated_at {{time}} NOT NULL
	)`,
	// issue 13, zones: the Idempotency-Key of each relayed fact upload or report with
	// its first answer, written in the transaction that stored the request
	`CREATE TABLE idempotency_keys (
		idempotency_key TEXT PRIMARY KEY,
		status INTEGER NOT NULL,
		body TEXT NOT NULL,
		created_at {{time}} NOT NULL
	);
	CREATE INDEX idempotency_keys_created_at_index ON idempotency_keys (created_at)`,
	// host orchestration: a name being created (or renamed to) is held here from
	// before the first proxy call to the end of the run, so a second create of the
	// same name, in this process or another core on the same database, is refused
	`CREATE TABLE host_name_reservations (
		name TEXT CONSTRAINT host_name_reservations_name_key PRIMARY KEY,
		holder TEXT NOT NULL,
		reserved_at {{time}} NOT NULL
	)`,
}

// ddl fills in the dialect's tokens.
func (s *Store) ddl(stmt string) string {
	id, ts := "INTEGER PRIMARY KEY AUTOINCREMENT", "TIMESTAMP"
	if s.dialect == Postgres {
		id, ts = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ"
	}
	return strings.NewReplacer("{{id}}", id, "{{time}}", ts).Replace(stmt)
}

// SchemaVersion is the number of migrations applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

// migrate applies the migrations the database does not have yet. On PostgreSQL an
// advisory lock serialises two cores starting at once; on SQLite the immediate
// transaction does.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return err
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration in a transaction; done is true when none is left.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7267843)`); err != nil {
				return err
			}
		}
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
		if err == sql.ErrNoRows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if version >= len(migrations) {
			done = true
			return nil
		}
		for _, stmt := range strings.Split(s.ddl(migrations[version]), ";\n") {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %d: %w", version+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, version+1)
		return err
	})
	return done, err
}

// Migrations is how many schema versions this binary knows.
func Migrations() int { return len(migrations) }
