using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage.Tests;

/// <summary>The path and container part of the contract: every store refuses the same unsafe blobs, before touching storage.</summary>
public abstract partial class BlobStoreContractTests
{
    /// <summary>Stands for the store's projects container in <see cref="UnsafeBlobs"/> (its name differs per backend).</summary>
    private const string ProjectsContainer = "{projects}";

    public static TheoryData<string, string> UnsafeBlobs => new()
    {
        { ProjectsContainer, "../x" },
        { ProjectsContainer, "a/../../x" },
        { ProjectsContainer, "/etc/passwd" },
        { ProjectsContainer, "a\\..\\..\\x" },
        { ProjectsContainer, "a\0b" },
        { ProjectsContainer, "a//b" },
        { ProjectsContainer, "./a" },
        { ProjectsContainer, "" },
        { "unknown", "a" },
        { "", "a" },
    };

    [Theory]
    [MemberData(nameof(UnsafeBlobs))]
    public async Task EveryOperation_UnsafeBlob_ThrowsArgumentExceptionAndStoresNothing(string container, string path)
    {
        var bad = new BlobRef(container == ProjectsContainer ? Containers.Projects : container, path);
        var good = Blob("ok/blob");
        var localFile = Path.Combine(Path.GetTempPath(), $"contract-{Guid.NewGuid():N}.bin");
        await File.WriteAllTextAsync(localFile, "local");
        try
        {
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.UploadAsync(bad, new MemoryStream("x"u8.ToArray()), overwrite: true));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.AppendAsync(bad, new MemoryStream("x"u8.ToArray())));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.ImportFileAsync(bad, localFile, overwrite: true));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.OpenReadAsync(bad));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.GetPropertiesAsync(bad));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.DeleteAsync(bad));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.CopyAsync(bad, good, overwrite: true));
            await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.CopyAsync(good, bad, overwrite: true));
            await Assert.ThrowsAnyAsync<ArgumentException>(async () => await Store.GetSignedUrlAsync(bad, BlobPermission.Write, TimeSpan.FromHours(1)));

            Assert.True(File.Exists(localFile));
            foreach (var configured in Containers.All)
            {
                Assert.Empty(await ListAsync(configured, ""));
            }
        }
        finally
        {
            File.Delete(localFile);
        }
    }

    [Theory]
    [InlineData(ProjectsContainer, "/abs")]
    [InlineData(ProjectsContainer, "a\\b")]
    [InlineData(ProjectsContainer, "a\0")]
    [InlineData("unknown", "")]
    public void ListAsync_UnsafeContainerOrPrefix_ThrowsArgumentException(string container, string prefix)
    {
        Assert.ThrowsAny<ArgumentException>(() => Store.ListAsync(container == ProjectsContainer ? Containers.Projects : container, prefix));
    }
}
