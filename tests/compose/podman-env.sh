# Sourced by tests/compose/run.sh: a private podman setup under $TB_PODMAN_DIR, so
# that nothing in /etc is read for podman's state or written (networks included)
# and nothing of another podman user is touched.
# - runtime runc: Debian's crun refuses hybrid cgroup v1/v2 hosts;
# - cgroupfs: no systemd inside CI machines;
# - default_ulimits: the engine's defaults cannot be raised on some hosts.
tb_podman_env() {
  local d=$1
  mkdir -p "$d/storage" "$d/run" "$d/tmp" "$d/networks" "$d/netrun"
  cat > "$d/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$d/storage"
runroot = "$d/run"
CONF
  cat > "$d/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$d/tmp"

[network]
network_backend = "netavark"
network_config_dir = "$d/networks"
CONF
  export CONTAINERS_STORAGE_CONF="$d/storage.conf" CONTAINERS_CONF="$d/containers.conf"
  # podman build writes Docker-format images (the OCI format has no HEALTHCHECK).
  export BUILDAH_FORMAT=docker
}
