using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using P2PDist.Oci;
using P2PDist.Protos.Containerd.Images;
using P2PDist.Protos.Containerd.Types;

namespace P2PDist.Cli.Containerd;

/// <summary>containerd's image record: the name `ctr run` looks up, pointing at the manifest in its content store.</summary>
public sealed class ImageRecords(ContainerdConnection containerd)
{
    private readonly Images.ImagesClient images = new(containerd.Channel);

    public async Task PointAsync(string name, ResolvedImage image, CancellationToken cancellationToken)
    {
        string mediaType = image.Raw.MediaType is { Length: > 0 } served ? served : image.Manifest.MediaType ?? MediaTypes.OciManifest;
        var record = new Image
        {
            Name = name,
            Target = new ContentDescriptor { MediaType = mediaType, Digest = image.Raw.Digest, Size = image.Raw.Bytes.Length },
        };
        try
        {
            await images.CreateAsync(new CreateImageRequest { Image = record }, containerd.Call(cancellationToken));
            return;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            // Pulled before (perhaps another digest under the same tag): move the name to this manifest.
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"create image {name}", e);
        }
        try
        {
            await images.UpdateAsync(new UpdateImageRequest { Image = record, UpdateMask = new FieldMask { Paths = { "target" } } }, containerd.Call(cancellationToken));
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"update image {name}", e);
        }
    }
}
