"""The graph builders against InvokeAI 6.14.2's own OpenAPI document: every node type exists, every field a
builder sets is one of that node's fields (and may be set directly), every edge joins an output of its
source to an input of its destination that takes a connection, and every required input is there. A
typo in a field name fails here, not in a person's generation. The SDXL graph is the body a real server
ran (../shared/invokeai/sdxl-graph-example.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services import graphs
from app.services.generation import Parameters

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "invokeai"
NODE_ATTRIBUTES = ("id", "type", "is_intermediate", "use_cache")


def identifier(key: str, name: str, base: str, kind: str = "main") -> dict:
    return {"key": key, "hash": f"blake3:{key}", "name": name, "base": base, "type": kind}


MODELS = {
    "sd-1": identifier("k-sd1", "tiny-sd15", "sd-1"),
    "sd-2": identifier("k-sd2", "sd-2-1-base", "sd-2"),
    "sdxl": identifier("k-sdxl", "sdxl-base-1.0", "sdxl"),
    "flux": {**identifier("k-flux", "flux1-dev", "flux"), "companions": {
        "t5_encoder_model": identifier("k-t5", "t5-xxl", "any", "t5_encoder"),
        "clip_embed_model": identifier("k-clip", "clip-vit-l", "any", "clip_embed"),
        "vae_model": identifier("k-vae", "flux-vae", "flux", "vae")}},
    "flux2": identifier("k-klein", "flux2-klein-4b", "flux2"),
}


def params(base: str, **overrides) -> Parameters:
    family = graphs.FAMILIES[base]
    values = {"prompt": "a lighthouse on a cliff at sunset", "negative_prompt": "blurry" if family.negative else "",
              "model_key": MODELS[base]["key"], "width": family.size, "height": family.size,
              "steps": family.default_steps, "cfg_scale": family.default_cfg, "guidance": family.default_guidance,
              "scheduler": "euler", "seed": None, "count": 1}
    return Parameters(**{**values, **overrides})


@pytest.fixture(scope="module")
def invocations() -> dict[str, dict]:
    """node type -> {"fields": {name: property}, "required", "outputs": {names}, "extra"} from the OpenAPI."""
    document = SHARED / "openapi-6.14.2.json"
    if not document.exists():
        pytest.skip(f"InvokeAI's OpenAPI document is absent ({document})")
    schemas = json.loads(document.read_text())["components"]["schemas"]
    found = {}
    for schema in schemas.values():
        kind = schema.get("properties", {}).get("type", {}).get("default")
        if "output" in schema and kind:
            output = schemas[schema["output"]["$ref"].rsplit("/", 1)[-1]]
            found[kind] = {"fields": schema["properties"], "required": schema.get("required", []),
                           "outputs": set(output["properties"]) - {"type"},
                           "extra": schema.get("additionalProperties") is True}  # core_metadata keeps any key
    return found


def problems_of(graph: graphs.Graph, invocations: dict[str, dict]) -> list[str]:
    """Everything in the graph that InvokeAI's schema of node fields would not take."""
    problems = []
    connected = {(e["destination"]["node_id"], e["destination"]["field"]) for e in graph.edges}
    for node_id, node in graph.nodes.items():
        spec = invocations.get(node["type"])
        if node["id"] != node_id or spec is None:
            problems.append(f"{node_id}: unknown node type {node['type']} or id {node['id']}")
            continue
        for name in set(node) - {"id", "type"}:
            field = spec["fields"].get(name)
            if field is None and not spec["extra"]:
                problems.append(f"{node_id}.{name} is no field of {node['type']}")
            elif field is not None and field.get("input") == "connection":
                problems.append(f"{node_id}.{name} of {node['type']} takes a connection only, not a value")
        for name in set(spec["required"]) - set(NODE_ATTRIBUTES):
            if name not in node and (node_id, name) not in connected:
                problems.append(f"{node_id}.{name} is required by {node['type']}")
    for e in graph.edges:
        source, destination = graph.nodes.get(e["source"]["node_id"]), graph.nodes.get(e["destination"]["node_id"])
        if source is None or destination is None:
            problems.append(f"edge {e} joins a node that is not in the graph")
            continue
        if e["source"]["field"] not in invocations.get(source["type"], {}).get("outputs", ()):
            problems.append(f"{source['type']} has no output {e['source']['field']}")
        field = invocations.get(destination["type"], {}).get("fields", {}).get(e["destination"]["field"])
        if field is None or field.get("input") not in ("connection", "any"):
            problems.append(f"{destination['type']}.{e['destination']['field']} takes no connection")
    for node_id, name in graph.seed_fields:
        if name not in invocations[graph.nodes[node_id]["type"]]["fields"]:
            problems.append(f"seed field {node_id}.{name} is no field of {graph.nodes[node_id]['type']}")
    return problems


@pytest.mark.parametrize("base", list(graphs.FAMILIES))
def test_every_text_to_image_graph_fits_invokeais_node_schemas(invocations, base):
    graph = graphs.build_graph(graphs.TEXT_TO_IMAGE, params(base), MODELS[base], seed=1234)
    assert problems_of(graph, invocations) == []
    assert graph.nodes[graph.output]["is_intermediate"] is False and graph.nodes[graph.output]["use_cache"] is False
    assert graph.output in graphs.OUTPUT_NODES
    assert ("metadata", "seed") in graph.seed_fields  # the image's own metadata carries its seed


def test_the_schema_check_catches_a_misspelt_field_and_a_wrong_edge(invocations):
    graph = graphs.build_graph(graphs.TEXT_TO_IMAGE, params("flux2"), MODELS["flux2"], seed=1)
    graph.nodes["denoise"]["num_step"] = graph.nodes["denoise"].pop("num_steps")
    graph.edges.append(graphs.edge("model_loader", "clip", "positive", "clip"))
    graph.nodes["decode"]["metadata"] = {}
    assert problems_of(graph, invocations) == [
        "denoise.num_step is no field of flux2_denoise",
        "decode.metadata of flux2_vae_decode takes a connection only, not a value",
        "flux2_klein_model_loader has no output clip",
        "flux2_klein_text_encoder.clip takes no connection"]


def test_the_sdxl_graph_is_the_body_a_real_server_ran():
    example = json.loads((SHARED / "sdxl-graph-example.json").read_text())["batch"]["graph"]
    model = example["nodes"]["model_loader"]["model"]
    graph = graphs.build_graph(graphs.TEXT_TO_IMAGE, params("sdxl", negative_prompt="", width=64, height=64, steps=2),
                               model, seed=1234)
    body = graph.body()
    assert (body["id"], body["nodes"]) == (example["id"], example["nodes"])
    as_pairs = lambda edges: sorted(json.dumps(e, sort_keys=True) for e in edges)  # noqa: E731
    assert as_pairs(body["edges"]) == as_pairs(example["edges"])


def test_flux_graphs_take_no_negative_prompt_or_cfg_and_seed_their_denoise_node():
    flux = graphs.build_graph(graphs.TEXT_TO_IMAGE, params("flux", guidance=3.5), MODELS["flux"], seed=9)
    types = {node["type"] for node in flux.nodes.values()}
    assert types == {"flux_model_loader", "flux_text_encoder", "flux_denoise", "flux_vae_decode", "core_metadata"}
    assert flux.nodes["denoise"]["guidance"] == 3.5 and "cfg_scale" not in flux.nodes["denoise"]
    assert flux.nodes["model_loader"]["t5_encoder_model"]["key"] == "k-t5"
    assert flux.seed_fields == [("denoise", "seed"), ("metadata", "seed")]
    schnell = graphs.build_graph(graphs.TEXT_TO_IMAGE, params("flux", guidance=None), MODELS["flux"], seed=9)
    assert "guidance" not in schnell.nodes["denoise"] and "guidance" not in schnell.nodes["metadata"]

    klein = graphs.build_graph(graphs.TEXT_TO_IMAGE, params("flux2"), MODELS["flux2"], seed=9)
    assert {"cfg_scale", "guidance"}.isdisjoint(klein.nodes["denoise"])
    assert klein.nodes["metadata"]["generation_mode"] == "flux2_txt2img"
    assert not any("negative" in json.dumps(node) for node in klein.nodes.values())


@pytest.mark.parametrize("base", list(graphs.FAMILIES))
def test_every_image_to_image_graph_fits_invokeais_node_schemas(invocations, base):
    graph = graphs.build_graph(graphs.IMAGE_TO_IMAGE, params(base, strength=0.7), MODELS[base], seed=1234,
                               image_name="start.png")
    assert problems_of(graph, invocations) == []
    assert graph.nodes["encode"]["image"] == {"image_name": "start.png"}
    assert graph.nodes["denoise"]["denoising_start"] == pytest.approx(0.3)
    assert graphs.edge("encode", "latents", "denoise", "latents") in graph.edges
    assert graph.nodes["metadata"]["generation_mode"].endswith("img2img")
    assert (graph.nodes["metadata"]["strength"], graph.nodes["metadata"]["init_image"]) == (0.7, "start.png")
    text = graphs.build_graph(graphs.TEXT_TO_IMAGE, params(base), MODELS[base], seed=1234)
    assert text.nodes["denoise"]["denoising_start"] == 0.0 and "encode" not in text.nodes


def test_the_encoder_is_the_bases_own_vae_encoder():
    encoders = {base: graphs.build_graph(graphs.IMAGE_TO_IMAGE, params(base, strength=1.0), MODELS[base], seed=1,
                                         image_name="x.png").nodes["encode"]["type"] for base in graphs.FAMILIES}
    assert encoders == {"sd-1": "i2l", "sd-2": "i2l", "sdxl": "i2l", "flux": "flux_vae_encode",
                        "flux2": "flux2_vae_encode"}


def test_a_base_without_an_image_to_image_graph_says_so_in_words():
    assert graphs.problem_without_graph(graphs.IMAGE_TO_IMAGE, "sdxl") is None
    assert graphs.problem_without_graph(graphs.IMAGE_TO_IMAGE, "sd-3") == (
        "The gallery cannot start from a photo (image to image) with sd-3 models yet.")
