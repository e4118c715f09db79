"""What a page's download buttons would send, for AppTest: ``record_downloads(monkeypatch)``.

AppTest shows a download button's label and a media id, not its bytes. Recording what the
page hands Streamlit's media file manager (bytes now, or a callable for a download built on
click) lets a test read the file a person would get.
"""

from __future__ import annotations

import io

import pandas as pd
from streamlit.runtime.media_file_manager import MediaFileManager


def record_downloads(monkeypatch) -> dict:
    """Patch the media file manager; the returned dict fills with ``file name -> bytes`` as pages run."""
    files: dict = {}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def recorded_add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name is not None:
            files[file_name] = path_or_data
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    def recorded_deferred(self, data_callable, mimetype, coordinates, file_name=None, *, element_id=""):
        if file_name is not None:
            files[file_name] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, element_id=element_id)

    monkeypatch.setattr(MediaFileManager, "add", recorded_add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", recorded_deferred)
    return files


def downloaded_table(files: dict, file_name: str) -> pd.DataFrame:
    """The CSV a download button named ``file_name`` sends, read as text cells (so the digits are as written)."""
    data = files[file_name]
    data = data() if callable(data) else data
    return pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode("utf-8")), dtype=str, keep_default_na=False)
