"""dataset.render_cad: your own CAD models -> a training set; dataset.prepare_multiview on a real layout."""
import json

import numpy as np
import pytest
import trimesh
from PIL import Image

import training
from auxiliary.rotation import project_points
from dataset import prepare_multiview, render_cad
from dataset.annotations import AnnotationTable
from dataset.multiview import read_spec, read_views
from dataset.pointcloud import read_ply_points

FORMATS = ("obj", "off", "ply", "stl", "glb")


def asymmetric_mesh() -> trimesh.Trimesh:
    """A box with a tower at its front right and a leg at its back left: no turn about z maps it to itself."""
    body = trimesh.creation.box([0.6, 0.4, 0.3])
    tower = trimesh.creation.box([0.2, 0.2, 0.5])
    tower.apply_translation([0.25, -0.2, 0.3])
    leg = trimesh.creation.cylinder(0.05, 0.3)
    leg.apply_translation([-0.2, 0.1, -0.25])
    return trimesh.util.concatenate([body, tower, leg])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cad") / "models"
    (root / "thing").mkdir(parents=True)
    mesh = asymmetric_mesh()
    for ext in FORMATS:
        mesh.export(root / "thing" / f"model_{ext}.{ext}")
    red = asymmetric_mesh()
    red.visual.face_colors = np.tile([220, 20, 20, 255], (len(red.faces), 1))
    (root / "red").mkdir()
    red.export(root / "red" / "a.ply")
    (root / "red" / "broken.obj").write_text("not a mesh\n")
    return root


@pytest.fixture(scope="module")
def rendered(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered") / "Custom"
    record = render_cad.render_cad(models, out, views=12, image_size=48, view_num=4, tour=1, view_size=24,
                                   points=800, workers=1, progress=False)
    return out, record


def test_every_format_is_read_into_the_same_frame(models):
    reference = render_cad.load_cad(models / "thing" / "model_obj.obj")
    for ext in FORMATS:
        mesh = render_cad.load_cad(models / "thing" / f"model_{ext}.{ext}")
        assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(0.45)
        assert mesh.vertices.min(0) == pytest.approx(-mesh.vertices.max(0))  # centred on the bounding box
        ours = np.unique(np.round(mesh.vertices, 5), axis=0)
        assert ours == pytest.approx(np.unique(np.round(reference.vertices, 5), axis=0), abs=1e-4), ext


def test_up_and_front_options_undo_a_y_up_export(models, tmp_path):
    mesh = asymmetric_mesh()
    z_up = render_cad.load_cad(models / "thing" / "model_obj.obj")
    y_up = mesh.copy()
    # ShapeNet-like file: up is +y and the object faces +z
    y_up.vertices = mesh.vertices @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float).T
    y_up.export(tmp_path / "y.obj")
    back = render_cad.load_cad(tmp_path / "y.obj", up="+y")
    np.testing.assert_allclose(back.vertices, z_up.vertices, atol=1e-6)
    assert not np.allclose(render_cad.load_cad(tmp_path / "y.obj").vertices, z_up.vertices, atol=1e-3)
    with pytest.raises(ValueError, match="perpendicular"):
        render_cad.frame_rotation("+z", "-z")


def test_output_layout_boxes_and_colours(rendered, models):
    out, record = rendered
    assert not out.with_name("Custom.partial").exists()
    assert record["skipped"] == [f"CAD model {models / 'red' / 'broken.obj'} has no faces"]
    assert set(record["models"]["thing"]) == {"01", "02", "03", "04", "05"}
    table = AnnotationTable.read(out / "Custom.txt")
    assert len(table) == 6 * 12 and set(table["set"]) == {"train", "val"}
    camera = json.loads((out / "render.json").read_text())
    checked = 0
    for i in range(len(table)):
        if table["truncated"][i]:
            continue
        cloud = read_ply_points(out / "pointcloud" / table["cat"][i] / f"{int(table['cad_index'][i]):02d}"
                                / "compressed.ply")
        uv, _ = project_points(cloud, table["azimuth"][i], table["elevation"][i], table["inplane_rotation"][i],
                               table["distance"][i], camera["focal"], camera["principal"])
        assert uv[:, 0].min() == pytest.approx(table["left"][i], abs=1.5)
        assert uv[:, 0].max() == pytest.approx(table["right"][i], abs=1.5)
        assert uv[:, 1].min() == pytest.approx(table["upper"][i], abs=1.5)
        assert uv[:, 1].max() == pytest.approx(table["lower"][i], abs=1.5)
        checked += 1
    assert checked > 40
    # the red model keeps its own colour: its silhouette is red, whatever the background
    row = list(table["cat"]).index("red")
    image = np.asarray(Image.open(out / table["im_path"][row]), float)
    box = [int(table[k][row]) for k in ("left", "upper", "right", "lower")]
    cy, cx = (box[1] + box[3]) // 2, (box[0] + box[2]) // 2
    centre = image[cy - 2:cy + 2, cx - 2:cx + 2]
    assert (centre[..., 0] > centre[..., 1] + 40).mean() > 0.5
    views = read_views(out / "multiview" / "red" / "01" / "views.png", read_spec(out / "multiview"))
    assert views.shape == (4, 3, 24, 24)


def test_backgrounds_folder_and_bad_input(models, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((80, 100, 3), (0, 255, 0), np.uint8)).save(photos / "green.png")
    out = tmp_path / "bg"
    render_cad.render_cad(models, out, views=2, image_size=32, backgrounds=photos, workers=1, progress=False,
                          view_num=4, tour=1, view_size=16, points=300)
    image = np.asarray(Image.open(out / "Images" / "thing_01_0000.JPEG"), float)
    assert image[0, 0, 1] > 200 and image[0, 0, 0] < 60  # the photo is behind the object
    with pytest.raises(FileNotFoundError, match="nowhere"):
        render_cad.render_cad(tmp_path / "nowhere", tmp_path / "x", progress=False)
    empty = tmp_path / "empty" / "cat"
    empty.mkdir(parents=True)
    (empty / "bad.obj").write_text("nothing\n")
    assert render_cad.main(["--models", str(empty.parent), "--out", str(tmp_path / "y"), "--workers", "1"]) == 2
    assert not (tmp_path / "y").exists() and not (tmp_path / "y.partial").exists()


@pytest.mark.parametrize("shape", ["PointCloud", "MultiView"])
def test_a_teacher_trains_on_the_rendered_set(rendered, tmp_path, shape):
    out, _ = rendered
    run = training.main(["--dataset", "Custom", "--data_dir", str(out), "--shape", shape, "--img_encoder", "resnet18",
                         "--img_feature_dim", "32", "--shape_feature_dim", "16", "--input_dim", "32", "--point_num",
                         "100", "--view_num", "4", "--view_feature_dim", "8", "--batch_size", "8", "--workers", "0",
                         "--print_freq", "0", "--n_epoch", "1", "--output_dir", str(tmp_path / "run")])
    assert (run / "model_best.pth").is_file()


def test_prepare_multiview_renders_a_real_layout(tmp_path):
    root = tmp_path / "Pascal3D"
    (root / "CAD" / "car").mkdir(parents=True)
    asymmetric_mesh().export(root / "CAD" / "car" / "01.off")
    (root / "CAD" / "car" / "02.obj").write_text("not a mesh\n")
    assert prepare_multiview.main(["--root", str(root), "--view_num", "6", "--tour", "2", "--view_size", "20"]) == 0
    spec = read_spec(root / "multiview")
    assert read_views(root / "multiview" / "car" / "01" / "views.png", spec).shape == (6, 3, 20, 20)
    assert not (root / "multiview" / "car" / "02").exists()
