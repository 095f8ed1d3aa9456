namespace P2PDist.Oci;

public static class ImageStores
{
    public static IImageStore Open(ImageReference reference, RegistryOptions options) =>
        reference.IsLayout ? new OciLayoutStore(reference) : new RegistryClient(reference, options);
}
