// The peer speaks Linux FUSE and mounts file systems: it runs on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
