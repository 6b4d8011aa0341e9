"""Index of the fault probes of issue 20: each probe and the test (in the module it exercises) that pins it.

The tests live beside the code they cover; this module only checks that every probe still
has its test, so the list cannot silently rot.
"""

import ast
import os

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

PROBES = {
    "lr 1e30, checkpoint every step: NaN state saved as the last good checkpoint":
        "test_train.py::test_exploding_update_is_never_saved_and_run_info_says_failed",
    "truncated optimizer state / NaN checkpoint on resume":
        "test_train.py::test_restore_latest_good_skips_truncated_and_non_finite_checkpoints",
    "resume after a truncated checkpoint continues from the previous step":
        "test_train.py::test_resume_falls_back_from_a_truncated_checkpoint",
    "truncated params / NaN params served by recommend":
        "test_train.py::test_load_trained_falls_back_from_corrupt_and_refuses_non_finite",
    "closed port: 547 s of retries, exit 0, no captions":
        "enrich/test_http.py::test_dead_server_ends_enrich_in_seconds_with_one_line_and_no_report",
    "HTTP 401/403/404 and unknown model retried per item":
        "enrich/test_http.py::test_unfixable_http_errors_are_fatal_at_the_first_attempt",
    "nothing stops a run after repeated failures":
        "enrich/test_runner.py::test_circuit_breaker_stops_after_consecutive_failures",
    "all items failed, stage exits 0 with a done-marker; --max-failed":
        "enrich/test_http.py::test_all_or_too_many_failed_items_fail_the_stage",
    "LC-Rec duplicate user keys last-wins; empty item lists kept silently":
        "data/test_peers.py::test_lcrec_duplicate_user_keys_and_empty_lists_are_bad_input",
    "0-byte MiniOneRec test csv shifts every target":
        "data/test_peers.py::test_empty_split_files_are_bad_input_not_shifted_targets",
    "unknown item id names a file that does not exist and no line":
        "data/test_peers.py::test_unknown_item_ids_name_the_file_and_line_that_uses_them",
    "non-UTF-8 MiniOneRec line cannot be skipped":
        "data/test_peers.py::test_minionerec_non_utf8_line_is_skippable_and_counted",
    "directory where a peer file belongs":
        "data/test_peers.py::test_a_directory_where_a_file_belongs_is_bad_input",
    "failed --import_sids leaves a half dataset that enrich accepts":
        "data/test_prepare.py::test_failed_sid_import_leaves_nothing_and_enrich_refuses_the_dir",
    "directory where a dump belongs: IsADirectoryError traceback; --debug":
        "data/test_prepare.py::test_directory_instead_of_a_dump_is_one_line_and_debug_keeps_the_traceback",
    "users dropped by leave-one-out without a count":
        "data/test_prepare.py::test_users_too_short_for_splits_are_counted",
    "truncated sids.json: traceback from train":
        "test_cli.py::test_train_with_a_truncated_sids_json_is_one_line",
    "python -m gr_jax.train on an unprepared dir":
        "test_cli.py::test_python_m_train_refuses_an_unprepared_dir_in_one_line",
    "known failures one line + exit 2, --debug keeps the traceback":
        "test_flags.py::test_guarded_turns_known_failures_into_one_line_and_exit_2",
    "NaN written into fused.npy called up to date by embed":
        "embed/test_stage.py::test_nan_written_into_an_up_to_date_file_is_recomputed",
    "recommend -k 0 ValueError; empty history after a 9 s TensorFlow import":
        "test_cli.py::test_recommend_rejects_k_0_and_an_empty_history_before_importing_tensorflow",
    "atomic writes get mode 0600":
        "test_io_utils.py::test_atomic_writes_get_the_mode_open_would_give_not_0600",
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_every_probe_has_its_test(probe):
  path, name = PROBES[probe].split("::")
  with open(os.path.join(TESTS, path), encoding="utf-8") as f:
    tree = ast.parse(f.read())
  names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
  assert name in names, f"{probe}: {PROBES[probe]} is gone"
