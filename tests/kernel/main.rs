//! The real-kernel suite: the real tool against Debian's real kernel
//! sources with real clang/lld. Cases run in order, one at a time: they
//! share cached trees and builds (2 cores; a kernel build takes them all).

mod boot_cases;
mod build_cases;
mod cache_cases;
mod clean_cases;
mod cluster_cases;
mod compare_cases;
mod fixtures;
mod modules_cases;
mod newcomer_cases;
mod profile_cases;
mod remote_cases;
mod safety_cases;
mod setup_cases;
mod support;

use libtest_mimic::{Arguments, Trial};

/// A named case of the suite.
type Case = (&'static str, fn() -> support::Result);

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let cases: Vec<Case> = vec![
        ("setup::refuses_non_kernel_input", setup_cases::refuses_non_kernel_input),
        ("setup::applies_612_series", setup_cases::applies_612_series),
        ("setup::second_setup_changes_nothing", setup_cases::second_setup_changes_nothing),
        ("setup::revert_restores_baseline", setup_cases::revert_restores_baseline),
        ("setup::completes_an_older_series", setup_cases::completes_an_older_series),
        ("setup::refuses_dirty_tree", setup_cases::refuses_dirty_tree),
        ("setup::dry_run_writes_nothing", setup_cases::dry_run_writes_nothing),
        ("setup::corrupt_patch_is_named", setup_cases::corrupt_patch_is_named),
        ("setup::conflict_names_file_and_hunk", setup_cases::conflict_names_file_and_hunk),
        ("setup::reports_mainline_73", setup_cases::reports_mainline_73),
        ("setup::applies_and_reverts_the_73_series", setup_cases::applies_and_reverts_the_73_series),
        // One fixture per architecture (tinyconfig, the boot fragment, the small modules
        // config): built by build::, booted by boot::, read by the cases after them.
        ("build::x86_64_612", build_cases::x86_64_612),
        ("build::x86_64_73_mainline", build_cases::x86_64_73_mainline),
        ("validate::catches_corruption", build_cases::validate_catches_corruption),
        ("build::dropped_option_is_explained", build_cases::dropped_option_is_explained),
        ("boot::without_initramfs_fails_fast", boot_cases::without_initramfs_fails_fast),
        ("boot::x86_64_612", boot_cases::x86_64_612),
        ("boot::panic_is_reported", boot_cases::panic_is_reported),
        ("boot::x86_64_73_modules", boot_cases::x86_64_73_modules),
        ("modules::build_validate_and_bites", modules_cases::build_validate_and_bites),
        // After the boots, which expect the fixture as it was built: a failed compile removes fork.o.
        ("build::failure_names_file", build_cases::build_failure_names_file),
        // setup and build on a tree of its own; two bites on that build (defects that cost it
        // little), then clean-check (all eight checks); its compare --boot is in --long.
        ("newcomer::sets_up_and_builds", newcomer_cases::sets_up_and_builds),
        ("clean_check::bites_on_gitignore", clean_cases::bites_on_gitignore),
        ("clean_check::module_one_file_bites", clean_cases::module_one_file_bites_on_unconditional_ko_link),
        ("newcomer::clean_check", newcomer_cases::clean_check),
        ("compare::refuses_a_foreign_out_dir", compare_cases::refuses_a_foreign_out_dir),
        ("safety::revert_keeps_commits_on_the_series_branch", safety_cases::revert_keeps_commits_on_the_series_branch),
        (
            "safety::revert_returns_to_the_original_branch",
            safety_cases::revert_returns_to_the_original_branch_as_it_is_now,
        ),
        ("safety::part_applied_series_gets_the_rest", safety_cases::part_applied_series_gets_the_rest),
        ("safety::foreign_implementation_is_left_alone", safety_cases::foreign_implementation_is_left_alone),
        ("safety::build_refuses_a_users_out_dir", safety_cases::build_refuses_a_users_out_dir),
        ("safety::full_disk_changes_nothing", safety_cases::full_disk_changes_nothing),
        ("safety::old_or_mismatched_compiler_is_refused", safety_cases::old_or_mismatched_compiler_is_refused),
        ("safety::job_counts_are_checked", safety_cases::job_counts_are_checked),
        ("safety::one_run_per_tree", safety_cases::one_run_per_tree),
        ("safety::sigterm_stops_the_build_and_keeps_the_log", safety_cases::sigterm_stops_the_build_and_keeps_the_log),
        ("safety::stop_signals_before_make_are_not_lost", safety_cases::stop_signals_before_make_are_not_lost),
        ("safety::bad_arguments_are_named", safety_cases::bad_arguments_are_named),
        ("safety::read_only_tree_is_named", safety_cases::read_only_tree_is_named),
        ("safety::failed_extraction_leaves_nothing", safety_cases::failed_extraction_leaves_nothing),
        ("safety::setup_conflicts_are_named", safety_cases::setup_conflicts_are_named),
        ("cache::shows_and_limits_what_it_keeps", cache_cases::shows_and_limits_what_it_keeps),
        ("remote::unreachable_engine_stops_before_building", remote_cases::unreachable_engine_stops_before_building),
        (
            "remote::engine_killed_mid_build_then_rerun_completes",
            remote_cases::engine_killed_mid_build_then_rerun_completes,
        ),
        ("remote::natives_match_a_local_build", remote_cases::natives_match_a_local_build),
        ("remote::front_end_inputs_are_exact", remote_cases::front_end_inputs_are_exact),
        ("remote::front_end_scans_are_reused_exactly", remote_cases::front_end_scans_are_reused_exactly),
        ("remote::remote_compile_error_is_clangs", remote_cases::remote_compile_error_is_clangs),
        ("remote::fallback_runs_the_job_here", remote_cases::fallback_runs_the_job_here),
        ("remote::byte_stream_carries_big_blobs", remote_cases::byte_stream_carries_big_blobs),
        ("remote::platform_reaches_the_worker", remote_cases::platform_reaches_the_worker),
        ("remote::engine_without_room_is_named", remote_cases::engine_without_room_is_named),
        ("remote::engine_stops", remote_cases::engine_stops),
        ("cluster::builds_like_local_and_goes_down", cluster_cases::builds_like_local_and_goes_down),
        ("profile::autofdo_73_series_compare", profile_cases::autofdo_73_series_compare),
    ];
    // Slower variants: run by `cargo xtask test --long` (libtest's --include-ignored), not in CI,
    // each a second case of a feature CI covers once.
    let long: Vec<Case> = vec![
        // More architectures: x86_64 builds and boots in CI; these build (and boot) the same way.
        ("build::arm64_612", build_cases::arm64_612),
        ("boot::arm64_612_modules", boot_cases::arm64_612_modules),
        ("build::riscv_612", build_cases::riscv_612),
        ("build::loongarch_612", build_cases::loongarch_612),
        ("boot::riscv_612_modules", boot_cases::riscv_612_modules),
        ("boot::arm64_73_modules", boot_cases::arm64_73_modules),
        ("boot::riscv_73_modules", boot_cases::riscv_73_modules),
        // The newcomer's path runs every check on the 6.12 series; this is the second series.
        ("clean_check::series_73_passes", clean_cases::series_73_passes),
        // The incremental check passes in CI; its bite needs a second clean reference build.
        ("clean_check::bites_on_index_content", clean_cases::bites_on_index_content),
        ("clean_check::mainline_73_gaps", clean_cases::mainline_73_gaps),
        // mainline_73_gaps shows the same defect on mainline itself.
        ("clean_check::bites_on_index_mtime", clean_cases::bites_on_index_mtime),
        // The other two bites CI ran before on a build of their own (the clone of the cached tree);
        // clean and mrproper end a build, so the clean rule's bite comes last.
        ("clean_check::deleted_native_bites_before_0009", clean_cases::deleted_native_bites_before_0009),
        ("clean_check::bites_on_clean_rule", clean_cases::bites_on_clean_rule),
        // The whole build on the engine at kernel scale, cold then warm; in CI the front-end
        // compiles go to the engine in small trees (front_end_inputs_are_exact, …_scans_…).
        ("remote::front_ends_on_the_engine", remote_cases::front_ends_on_the_engine),
        ("remote::warm_build_is_all_hits", remote_cases::warm_build_is_all_hits),
        // The cluster's failure paths, each on the cluster build CI makes: a build of some
        // minutes apiece (CI builds on the cluster once).
        ("cluster::survives_a_scheduler_restart", cluster_cases::survives_a_scheduler_restart),
        ("cluster::survives_a_lost_worker", cluster_cases::survives_a_lost_worker),
        ("cluster::emptied_cas_executes_again", cluster_cases::emptied_cas_executes_again),
        ("cluster::builds_on_a_worker_without_a_compiler", cluster_cases::builds_on_a_worker_without_a_compiler),
        // CI's compare --boot is the profile case's (7.3, series linux-7); the newcomer's 6.12 tree
        // the same way.
        ("newcomer::compare_boots_both", newcomer_cases::compare_boots_both),
        // CI compares with an AutoFDO profile; Propeller's pair the same way.
        ("profile::propeller_73_series_compare", profile_cases::propeller_73_series_compare),
        // CI's remote cases build without a profile; a profiled build's back-ends on the engine.
        ("profile::remote_natives_match_a_local_build", profile_cases::remote_natives_match_a_local_build),
        // CI's compare builds with one profile; a profile edited between two builds.
        ("profile::edited_profile_rebuilds_alike", profile_cases::edited_profile_rebuilds_alike),
        // clean-check in CI builds without a profile; with one, objects name the tree in their debug information.
        ("profile::clean_check_with_a_profile", profile_cases::clean_check_with_a_profile),
    ];
    let trial = |(name, f): Case| Trial::test(name, move || support::run_case(f));
    let trials =
        cases.into_iter().map(trial).chain(long.into_iter().map(|c| trial(c).with_ignored_flag(true))).collect();
    libtest_mimic::run(&args, trials).exit();
}
