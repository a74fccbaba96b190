"""moto's server, with the harness's workarounds for moto gaps that would otherwise make tests
disagree with AWS. Each patch says what AWS does and what moto does instead. The product never
sees this file: it talks to whatever answers at its endpoint.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (same arguments as `python -m moto.server`)
"""

import sys

from moto.ecr import models as ecr_models


def _scanning_configuration(self, image_scanning_configuration):
    # AWS: PutImageScanningConfiguration with {} (how the Rust SDK encodes scanOnPush=false, the
    # model's default value) turns scanning off. moto 5.2.5 ignores an empty configuration.
    if image_scanning_configuration is not None:
        self.image_scanning_configuration = {"scanOnPush": bool(image_scanning_configuration.get("scanOnPush", False))}


ecr_models.Repository._update_image_scanning_configuration = _scanning_configuration

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
