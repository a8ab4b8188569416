using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage.Tests;

public sealed class FileSystemBlobStoreOptionsTests
{
    [Fact]
    public void Validate_DefaultsWithRootUrlAndKey_Passes()
    {
        Assert.Empty(TempFolder.Options("/srv/blobs").GetValidationErrors());
    }

    public static TheoryData<string, Action<FileSystemBlobStoreOptions>, string> Broken => new()
    {
        { "no root", o => o.RootPath = " ", "RootPath" },
        { "no url", o => o.PublicBaseUrl = null, "PublicBaseUrl" },
        { "relative url", o => o.PublicBaseUrl = new Uri("/api", UriKind.Relative), "PublicBaseUrl" },
        { "ftp url", o => o.PublicBaseUrl = new Uri("ftp://example.com/"), "PublicBaseUrl" },
        { "url with query", o => o.PublicBaseUrl = new Uri("https://example.com/?x=1"), "PublicBaseUrl" },
        { "short key", o => o.SigningKey = new byte[16], "SigningKey" },
        { "bad container", o => o.Containers = new ContainerNames { Cache = "../cache" }, "'../cache'" },
        { "dot container", o => o.Containers = new ContainerNames { Cache = ".tmp" }, "'.tmp'" },
        { "duplicate container", o => o.Containers = new ContainerNames { Cache = "uploads" }, "more than once" },
        { "no containers", o => o.Containers = null!, "Containers is required" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void StoreConstructor_InvalidOptions_ThrowsNamingTheProblem(string problem, Action<FileSystemBlobStoreOptions> breakIt, string mentioned)
    {
        var options = TempFolder.Options("/srv/blobs");
        breakIt(options);

        var error = Assert.Throws<ArgumentException>(() => new FileSystemBlobStore(options, TimeProvider.System));

        Assert.True(error.Message.Contains(mentioned, StringComparison.Ordinal), $"{problem}: {error.Message}");
    }
}
