// Package deployments holds no code: its folders are how natch is run for
// real (a NATS cluster config, systemd units, Prometheus rules, a Grafana
// dashboard, Azure cloud-init), and its tests load each artifact with the
// real parser (nats-server's config parser, PromQL metric names against a
// live dispatcher's /metrics) so that none of them rots. See README.md.
package deployments
