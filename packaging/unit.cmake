# Installs rumwatch.service, written from rumwatch.service.in with the paths
# the binary and the config are installed to. Included by the install step
# (CMakeLists.txt), where CMAKE_INSTALL_PREFIX is the prefix being installed
# to (the one given to `cmake --install --prefix`, if any); file(INSTALL)
# adds $DESTDIR and records the file in install_manifest.txt.
# In: RW_BINDIR, RW_SYSCONFDIR, RW_DOCDIR, RW_UNIT_DIR (each relative to the
#     prefix, or absolute), RW_UNIT_IN, RW_UNIT_TMP (a scratch directory).
foreach(var RW_BINDIR RW_SYSCONFDIR RW_DOCDIR RW_UNIT_DIR)
  if(IS_ABSOLUTE "${${var}}")
    set(${var}_FULL "${${var}}")
  else()
    set(${var}_FULL "${CMAKE_INSTALL_PREFIX}/${${var}}")
  endif()
endforeach()
set(RW_UNIT_BINARY "${RW_BINDIR_FULL}/rumwatch")
set(RW_UNIT_CONFIG "${RW_SYSCONFDIR_FULL}/rumwatch/rumwatch.conf")
set(RW_UNIT_DOC "${RW_DOCDIR_FULL}")
configure_file("${RW_UNIT_IN}" "${RW_UNIT_TMP}/rumwatch.service" @ONLY)
file(INSTALL DESTINATION "${RW_UNIT_DIR_FULL}" TYPE FILE FILES "${RW_UNIT_TMP}/rumwatch.service")
# Not left behind: after `sudo cmake --install` it would be root's, and the
# next install as a user could not rewrite it.
file(REMOVE "${RW_UNIT_TMP}/rumwatch.service")
