"""The conformance kit: one set of zero-loss checks run over all five taps against their sandboxes.

Issue 10's ten defects and the tests that fail on the code before each fix
(checked by running today's tests and sandboxes against the tree before the fix,
``git worktree add /tmp/old <fix>^``, taps/ from then):

== ======================================== ============================================================ ========
#  defect                                   test(s)                                                      fix
== ======================================== ============================================================ ========
1  one-off 401 ends the run (static auth)   test_auth.py::test_one_off_401_is_retried_once (Salesloft    19e453d
                                            key, Kore.ai JWT, Foundry token fail before)
2  machine clock ahead loses conversations  test_clock_skew.py (Zoom, Kore.ai +/-10 min; Knovvu past       1729974,
                                            midnight; the Zoom 400 hint), test_clock_margin.py            a991ab9
3  wrong host answering 200 poisons state   test_wrong_host.py                                           1e54f64
4  Salesloft hangs on a small team budget   tests/test_salesloft_faults.py::                             1463766
                                            test_small_team_budget_is_used_not_waited_out
5  Knovvu stops itself after 5 ZIPs         tests/test_knovvu_sync.py::test_one_run_archives_every_hour_ 40b0840
                                            when_only_manifest_calls_are_limited, ::test_zip_limit_is_
                                            learned_...; test_data_faults.py::test_knovvu_zip_get_429_...
6  Foundry misses a session moved mid-list  tests/test_foundry_aip_sync.py::test_sessions_updated_mid_   2129308
                                            listing_..., ::test_a_listing_that_cannot_be_made_complete_...
7  records fail their own schema            test_reads.py (strict validation of every record;            19e453d
                                            test_undocumented_inner_shapes_accept_any_json fails before)
8  tracebacks, setting not named            test_bad_input.py, test_wrong_host.py (CLI one line)          1e54f64
9  Knovvu zero-byte temp ZIPs after a kill  tests/test_knovvu_sync.py::test_staged_zips_live_beside_     40b0840
                                            storage_and_leftovers_are_cleaned
10 sparse checkpoints (kill repeats work)   test_checkpoints.py (Foundry: 237 contents read again on      6a8e292,
                                            6a8e292^; Salesloft: 117 conversations re-emitted after a      fd72b40
                                            kill inside the 130-row tie group before fd72b40),
                                            tests/test_request_economy.py::test_*_killed_run_*
== ======================================== ============================================================ ========

Salesloft's plain keyset checkpoints (STATE every page) were in place since abe6639: a kill
outside a tie group repeats at most one page on 6a8e292^ too; the defect left was the tie group.
"""
