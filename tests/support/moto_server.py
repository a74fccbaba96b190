"""moto's server, with the harness's workarounds for moto gaps that would otherwise make tests
disagree with AWS. Each patch says what AWS does and what moto does instead. The product never
sees this file: it talks to whatever answers at its endpoint.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (same arguments as `python -m moto.server`)
"""

import json
import sys

from moto.ecr import models as ecr_models


def _scanning_configuration(self, image_scanning_configuration):
    # AWS: PutImageScanningConfiguration with {} (how the Rust SDK encodes scanOnPush=false, the
    # model's default value) turns scanning off. moto 5.2.5 ignores an empty configuration.
    if image_scanning_configuration is not None:
        self.image_scanning_configuration = {"scanOnPush": bool(image_scanning_configuration.get("scanOnPush", False))}


ecr_models.Repository._update_image_scanning_configuration = _scanning_configuration


def _image_scan_status(self):
    # AWS: DescribeImages reports imageScanStatus for scanned images. moto 5.2.5 never does.
    if self.last_scan is None:
        return None
    return {"status": "COMPLETE", "description": "The scan was completed successfully."}


def _image_scan_findings_summary(self):
    # AWS: DescribeImages reports the latest scan's severity counts. moto omits them; report the
    # counts its DescribeImageScanFindings would answer (custom results, else its default).
    if self.last_scan is None:
        return None
    results = list(self.scan_finding_results.values()) or list(self.scan_finding_results_queue)
    counts = results[-1].get("imageScanFindings", {}).get("findingSeverityCounts", {}) if results else {"HIGH": 1}
    return {"imageScanCompletedAt": self.last_scan, "findingSeverityCounts": counts}


def _image_size_in_bytes(self):
    # AWS: imageSizeInBytes is the image's compressed size (its layers and config). moto 5.2.5
    # reports the config blob's size alone, which makes every image look a few hundred bytes.
    manifest = json.loads(self.image_manifest)
    if "layers" not in manifest:
        return None
    return sum(layer.get("size", 0) for layer in manifest["layers"]) + manifest.get("config", {}).get("size", 0)


ecr_models.Image.get_image_size_in_bytes = _image_size_in_bytes
ecr_models.Image.image_scan_status = property(_image_scan_status)
ecr_models.Image.image_scan_findings_summary = property(_image_scan_findings_summary)

_describe_image_scan_findings = ecr_models.ECRBackend.describe_image_scan_findings


def _latest_scan_findings(self, registry_id, repository_name, image_id):
    # AWS: DescribeImageScanFindings answers the image's latest scan. moto 5.2.5 keeps the first
    # custom result it handed an image forever, so a rescan's new findings never show. When newer
    # results for this image wait, forget the one handed out before.
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    waiting = [
        r for r in self.scan_finding_results
        if r["repositoryName"] == repository_name
        and (r["imageId"].get("imageDigest") in (digest, None) or r["imageId"].get("imageTag") == tag)
    ]
    if waiting:
        try:
            repo = self._get_repository(repository_name, registry_id)
            image = repo._get_image(tag, digest)
        except Exception:
            image = None
        if image is not None:
            image.scan_finding_results = {}
            image.scan_finding_results_queue = []
    return _describe_image_scan_findings(self, registry_id, repository_name, image_id)


ecr_models.ECRBackend.describe_image_scan_findings = _latest_scan_findings

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
