"""Reads back what `tune` logged to MLflow and TensorBoard, with their own clients, as JSON.

usage: tracking_read.py mlflow URI EXPERIMENT
       tracking_read.py tensorboard FOLDER
"""
import json
import os
import sys


def mlflow_runs(uri, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    out = {"parents": [], "trials": {}}
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        tags = run.data.tags
        if tags.get("tune.role") == "study":
            artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
            out["parents"].append({"id": run.info.run_id, "status": run.info.status,
                                   "tags": {k: v for k, v in tags.items() if k.startswith("tune.")},
                                   "artifacts": artifacts})
            continue
        history = {}
        for key in run.data.metrics:
            history[key] = [[m.step, m.value] for m in client.get_metric_history(run.info.run_id, key)]
        out["trials"].setdefault(tags["tune.trial"], []).append({
            "status": run.info.status,
            "parent": tags.get("mlflow.parentRunId"),
            "tags": {k: v for k, v in tags.items() if k.startswith("tune.")},
            "params": run.data.params,
            "history": history,
            "artifacts": [[a.path, a.file_size] for a in client.list_artifacts(run.info.run_id, "checkpoint")],
        })
    return out


def tensorboard_runs(folder):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = {}
    for name in sorted(os.listdir(folder)):
        acc = event_accumulator.EventAccumulator(os.path.join(folder, name), size_guidance={"scalars": 0})
        acc.Reload()
        scalars = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        hparams = {}
        ended = None
        for tag, content in acc.PluginTagToContent("hparams").items():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.HasField("session_start_info"):
                for k, v in data.session_start_info.hparams.items():
                    hparams[k] = v.number_value if v.HasField("number_value") else v.string_value
            if data.HasField("session_end_info"):
                ended = data.session_end_info.status
        out[name] = {"scalars": scalars, "hparams": hparams, "end_status": ended}
    return out


if __name__ == "__main__":
    if sys.argv[1] == "mlflow":
        print(json.dumps(mlflow_runs(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(tensorboard_runs(sys.argv[2])))
