# An example recipe for aklite-offline, the device side of offline-ota
# (docs/device-integration.md). It installs the one-file CLI that `pnpm build:device`
# writes (packages/aklite-offline/dist-device/aklite-offline.mjs), the systemd units of
# packages/aklite-offline/systemd/ and a default config; Node runs it on the device.
#
# Before building, copy into files/ beside this recipe:
#   aklite-offline.mjs                  (pnpm build && pnpm build:device)
#   aklite-offline-boot.service, aklite-offline-probation.service,
#   aklite-offline-probation.timer      (packages/aklite-offline/systemd/)
# The device's TUF root (/usr/lib/sota/tuf/<ci|prod>/1.root.json) and its hardware id come
# from your own image recipes: they are the device's identity and root of trust.
SUMMARY = "Offline software updates from removable media: the device CLI and its boot-time units"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

SRC_URI = " \
    file://aklite-offline.mjs \
    file://aklite-offline-boot.service \
    file://aklite-offline-probation.service \
    file://aklite-offline-probation.timer \
    file://50-aklite-offline.toml \
"
# Yocto 5.0 (scarthgap) and later unpack into UNPACKDIR; older releases use WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit allarch systemd

SYSTEMD_SERVICE:${PN} = "aklite-offline-boot.service aklite-offline-probation.timer"
SYSTEMD_AUTO_ENABLE = "enable"

# node runs the CLI; it calls ostree and fw_printenv/fw_setenv. Add the container engine
# (e.g. docker-compose) when the device runs compose apps.
RDEPENDS:${PN} = "nodejs ostree libubootenv-bin"

do_install() {
    install -D -m 0755 ${S}/aklite-offline.mjs ${D}${bindir}/aklite-offline
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/aklite-offline-boot.service ${S}/aklite-offline-probation.service \
        ${S}/aklite-offline-probation.timer ${D}${systemd_system_unitdir}/
    install -D -m 0644 ${S}/50-aklite-offline.toml \
        ${D}${nonarch_libdir}/sota/conf.d/50-aklite-offline.toml
}

FILES:${PN} += "${systemd_system_unitdir} ${nonarch_libdir}/sota"
