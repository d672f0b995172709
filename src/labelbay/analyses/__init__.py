"""ML analyses: results that external pipelines post back about an image.

Pipelines sign each request with HMAC-SHA256 (`signing`), create an analysis, move it to
`processing`, upload artifacts through presigned URLs (`transfers` stands in for S3's presigning on a
local folder), post annotations (`annotations` checks them against the image) and finalise it
(`service`). Users read and export the results (`export`).
"""
