"""The debugging pipeline: the Scanflow paper's scenarios, one node per seed, corruption
and scenario, so that every backend runs them in parallel.

Namespaces make the grid::

    debugging.seed_0                  split_digits, train_classifier, fit_drift_detector
    debugging.seed_0.fog              prepare_new_data
    debugging.seed_0.fog              run_baseline, run_naive, run_ddc_hlc, run_rnd_hlc, run_mdwi_hfc
    debugging                         report_results

The seeds, corruptions, scenarios, label budgets and data source come from the
``debugging_grid`` parameter, read from ``conf/`` when the pipeline is created; the other
settings are the ``debugging`` parameter, read at run time.
"""

from kedro.pipeline import Node, Pipeline, node, pipeline

from kedro_scanflow.debugging import SCENARIOS, DebuggingGrid, load_debugging_grid
from kedro_scanflow.supervision.node_binding import bind_options

from .nodes import (
    corrupt_new_data,
    fit_drift_detector,
    report_results,
    run_scenario_node,
    sample_digits,
    sample_new_data,
    split_digits,
    train_classifier,
)

NAMESPACE = "debugging"
REPORTS = [
    "debugging_results",
    "debugging_summary",
    "debugging_table",
    "debugging_clean_accuracy_plot",
    "debugging_corrupted_accuracy_plot",
    "debugging_average_accuracy_plot",
    "debugging_corruption_accuracy_plot",
]


def create_pipeline(**kwargs) -> Pipeline:
    return debugging_pipeline(load_debugging_grid())


def debugging_pipeline(grid: DebuggingGrid) -> Pipeline:
    """The pipeline of ``grid``: per seed, per corruption, per scenario, then the report."""
    nodes: list[Node] = []
    results: list[str] = []
    for seed in grid.seeds:
        nodes += _seed_nodes(grid, seed)
        for corruption in grid.corruptions:
            nodes.append(_new_data_node(grid, seed, corruption))
            for scenario in grid.scenarios:
                scenario_node = _scenario_node(grid, seed, corruption, scenario)
                nodes.append(scenario_node)
                results += scenario_node.outputs
    nodes.append(
        node(
            report_results,
            inputs=results,
            outputs=REPORTS,
            name="report_results",
            namespace=NAMESPACE,
            tags=["debugging", "reporting"],
        )
    )
    return pipeline(nodes)


def _seed_nodes(grid: DebuggingGrid, seed: int) -> list[Node]:
    space = f"{NAMESPACE}.seed_{seed}"
    tags = ["debugging", f"seed_{seed}"]
    if grid.data_source == "generated":
        data = node(
            bind_options(split_digits, grid=grid, seed=seed),
            inputs=["debugging_digits", "params:debugging", "params:debugging_grid"],
            outputs=[
                f"{space}.train_digits",
                f"{space}.pool_digits",
                f"{space}.test_digits",
                f"{space}.pool_origins",
            ],
            name="split_digits",
            namespace=space,
            tags=[*tags, "preprocessing"],
        )
    else:
        data = node(
            bind_options(sample_digits, grid=grid, seed=seed),
            inputs=[
                "debugging_train_digits",
                "debugging_test_digits",
                "params:debugging",
                "params:debugging_grid",
            ],
            outputs=[f"{space}.train_digits", f"{space}.test_digits", f"{space}.mnist_c_positions"],
            name="sample_digits",
            namespace=space,
            tags=[*tags, "preprocessing"],
        )
    return [
        data,
        node(
            bind_options(train_classifier, seed=seed),
            inputs=[f"{space}.train_digits", "params:debugging"],
            outputs=f"{space}.classifier",
            name="train_classifier",
            namespace=space,
            tags=[*tags, "modeling"],
        ),
        node(
            bind_options(fit_drift_detector, seed=seed),
            inputs=[f"{space}.train_digits", "params:debugging"],
            outputs=f"{space}.drift_detector",
            name="fit_drift_detector",
            namespace=space,
            tags=[*tags, "scanflow.checker"],
        ),
    ]


def _new_data_node(grid: DebuggingGrid, seed: int, corruption: str) -> Node:
    seed_space = f"{NAMESPACE}.seed_{seed}"
    space = f"{seed_space}.{corruption}"
    if grid.data_source == "generated":
        function = bind_options(corrupt_new_data, corruption=corruption, seed=seed)
        inputs = [
            f"{seed_space}.pool_digits",
            f"{seed_space}.test_digits",
            f"{seed_space}.train_digits",
            f"{seed_space}.pool_origins",
        ]
    else:
        function = bind_options(sample_new_data, corruption=corruption)
        inputs = [
            f"{NAMESPACE}.mnist_c.{corruption}.train",
            f"{NAMESPACE}.mnist_c.{corruption}.test",
            f"{seed_space}.mnist_c_positions",
            f"{seed_space}.test_digits",
            f"{seed_space}.train_digits",
        ]
    return node(
        function,
        inputs=[*inputs, f"{seed_space}.drift_detector"],
        outputs=f"{space}.new_data",
        name="prepare_new_data",
        namespace=space,
        tags=["debugging", f"seed_{seed}", corruption, "scanflow.checker"],
    )


def _scenario_node(grid: DebuggingGrid, seed: int, corruption: str, key: str) -> Node:
    seed_space = f"{NAMESPACE}.seed_{seed}"
    space = f"{seed_space}.{corruption}"
    scenario = SCENARIOS[key]
    inputs = [f"{seed_space}.classifier", f"{space}.new_data", "params:debugging"]
    if scenario.needs_training_images:
        inputs.append(f"{seed_space}.train_digits")
    return node(
        bind_options(run_scenario_node, scenario=key, seed=seed, budgets=grid.budgets),
        inputs=inputs,
        outputs=f"{space}.{key}_results",
        name=f"run_{key}",
        namespace=space,
        tags=["debugging", f"seed_{seed}", corruption, key]
        + ([] if scenario.selection is None else ["scanflow.improver"]),
    )
